// Shared fixtures of the end-to-end test (no dependencies, so the driver does not load
// oidc-provider itself).

export const CLIENT_ID = 'msnID';
export const CLIENT_SECRET = 'demo-secret';
export const DEMO_LOGIN = 'demo';
export const DEMO_PASSWORD = 'demo-password';
export const DEMO_USER = {
  sub: 'demo-user-1',
  name: 'Ada Demo',
  email: 'ada.demo@example.test',
  email_verified: true,
};
/** Access tokens live this long (seconds), so the test can watch the gateway refresh. */
export const ACCESS_TOKEN_TTL = 10;
