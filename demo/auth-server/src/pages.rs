//! The HTML pages a person sees: login form, consent screen, errors and "logged out".
//! Every dynamic value is HTML-escaped.

use std::fmt::Write as _;

/// Escapes text for HTML content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0}\
main{max-width:26rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:8px;\
box-shadow:0 1px 4px #0002}.demo{background:#b00020;color:#fff;text-align:center;padding:.5rem;\
font-weight:bold;letter-spacing:.05em}label{display:block;margin:.8rem 0 .2rem}\
input[type=text],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}\
button{padding:.6rem 1.2rem;margin:1rem .5rem 0 0;font-size:1rem;cursor:pointer}\
.error{color:#b00020}.hint{color:#666;font-size:.9rem}code{background:#eee;padding:0 .2rem}";

fn page(title: &str, content: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title} - Demo authorization server</title><style>{STYLE}</style></head><body>\
         <div class=\"demo\">DEMO ONLY, NOT FOR PRODUCTION</div><main><h1>{title}</h1>{content}</main>\
         </body></html>",
        title = escape(title),
    )
}

/// Whether the login form may show the default `demo` / `demo` account as a hint.
pub fn demo_hint(state: &crate::state::State) -> bool {
    state
        .config
        .user("demo")
        .is_some_and(|u| u.password == "demo")
}

/// The login form; posts `request`, `username` and `password` to `/oauth2/login`.
pub fn login(
    client_id: &str,
    request_id: &str,
    username: &str,
    error: Option<&str>,
    hint: bool,
) -> String {
    let mut content = format!(
        "<p>Sign in to continue to <strong>{}</strong>.</p>",
        escape(client_id)
    );
    if let Some(error) = error {
        let _ = write!(
            content,
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(error)
        );
    }
    let _ = write!(
        content,
        "<form method=\"post\" action=\"/oauth2/login\">\
         <input type=\"hidden\" name=\"request\" value=\"{request}\">\
         <label for=\"username\">Username</label>\
         <input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" \
         autocomplete=\"username\" autofocus required>\
         <label for=\"password\">Password</label>\
         <input type=\"password\" id=\"password\" name=\"password\" \
         autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form>",
        request = escape(request_id),
        username = escape(username),
    );
    if hint {
        content
            .push_str("<p class=\"hint\">Demo account: <code>demo</code> / <code>demo</code></p>");
    }
    page("Sign in", &content)
}

/// What a scope means, for the consent screen.
fn describe(scope: &str) -> &'static str {
    match scope {
        "openid" => "Know who you are (your user id)",
        "profile" => "See your name and username",
        "email" => "See your email address",
        "offline_access" => "Stay signed in (keep access while you are away)",
        "contacts" => "Read your contacts",
        _ => "Additional access",
    }
}

/// The consent screen; posts `request` and `decision` (`approve`/`deny`) to `/oauth2/consent`.
pub fn consent(client_id: &str, user_name: &str, scopes: &[String], request_id: &str) -> String {
    let mut list = String::new();
    for scope in scopes {
        let _ = write!(
            list,
            "<li><code>{}</code> &mdash; {}</li>",
            escape(scope),
            describe(scope)
        );
    }
    let content = format!(
        "<p>Signed in as <strong>{user}</strong>.</p>\
         <p><strong>{client}</strong> asks to:</p><ul>{list}</ul>\
         <form method=\"post\" action=\"/oauth2/consent\">\
         <input type=\"hidden\" name=\"request\" value=\"{request}\">\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
        user = escape(user_name),
        client = escape(client_id),
        request = escape(request_id),
    );
    page("Allow access?", &content)
}

/// An error shown to the person (no redirect to the client happens).
pub fn error(message: &str) -> String {
    page(
        "Request refused",
        &format!("<p class=\"error\">{}</p>", escape(message)),
    )
}

/// Shown after a logout that does not redirect.
pub fn logged_out(note: Option<&str>) -> String {
    let mut content = "<p>You are signed out of the demo authorization server.</p>".to_owned();
    if let Some(note) = note {
        let _ = write!(content, "<p class=\"hint\">{}</p>", escape(note));
    }
    page("Signed out", &content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        let html = login("<app>", "\"id\"", "a&b", Some("<script>"), true);
        assert!(html.contains("&lt;app&gt;") && html.contains("&quot;id&quot;"));
        assert!(html.contains("a&amp;b") && !html.contains("<script>"));
        assert!(html.contains("DEMO ONLY, NOT FOR PRODUCTION"));
        let html = consent("app", "Ann", &["openid".to_owned(), "<x>".to_owned()], "r");
        assert!(html.contains("&lt;x&gt;") && html.contains("value=\"approve\""));
    }
}
