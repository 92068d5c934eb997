//! Where each key of the YAML text stands: `routes[1].upstream` → line 14, column 5.
//!
//! serde_yaml reports positions for structural errors only; validation errors (a bad URL, a
//! duplicate route) are found after parsing, so this index lets them name the line as well. It
//! reads the same text with yaml-rust2's event parser, and only records positions: it never
//! interprets values.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// A position in the config file, 1-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

#[derive(Debug, Default)]
pub struct KeyLines {
    positions: HashMap<String, Position>,
}

impl KeyLines {
    /// Indexes `text`. Unparsable text gives an empty index (serde_yaml reports the syntax error).
    pub fn index(text: &str) -> KeyLines {
        let mut recorder = Recorder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut recorder, false).is_err() {
            return KeyLines::default();
        }
        KeyLines {
            positions: recorder.positions,
        }
    }

    /// The position of `path` (`server.listen`, `routes[0].methods[1]`), or of its nearest
    /// ancestor that the file spells out.
    pub fn find(&self, path: &str) -> Option<Position> {
        let mut path = path;
        loop {
            if let Some(position) = self.positions.get(path) {
                return Some(*position);
            }
            let cut = path.rfind(['.', '['])?;
            path = &path[..cut];
        }
    }
}

enum Frame {
    Mapping { path: String, key: Option<String> },
    Sequence { path: String, index: usize },
}

#[derive(Default)]
struct Recorder {
    stack: Vec<Frame>,
    positions: HashMap<String, Position>,
}

impl Recorder {
    /// The path of the value about to be read in the current container, if one is expected.
    fn value_path(&self) -> Option<String> {
        match self.stack.last()? {
            Frame::Mapping {
                path,
                key: Some(key),
            } => Some(join_key(path, key)),
            Frame::Mapping { key: None, .. } => None,
            Frame::Sequence { path, index } => Some(format!("{path}[{index}]")),
        }
    }

    /// A value (scalar, alias or whole container) of the current container is complete.
    fn value_done(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Mapping { key, .. }) => *key = None,
            Some(Frame::Sequence { index, .. }) => *index += 1,
            None => {}
        }
    }

    fn record(&mut self, path: String, mark: Marker) {
        self.positions.entry(path).or_insert(Position {
            line: mark.line(),
            column: mark.col() + 1,
            // yaml-rust2 columns are 0-based; editors and serde_yaml count from 1.
        });
    }
}

fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

impl MarkedEventReceiver for Recorder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(text, ..) => {
                if let Some(Frame::Mapping {
                    path,
                    key: key @ None,
                }) = self.stack.last_mut()
                {
                    let key_path = join_key(path, &text);
                    *key = Some(text);
                    self.record(key_path, mark);
                } else {
                    if let Some(path) = self.value_path() {
                        self.record(path, mark);
                    }
                    self.value_done();
                }
            }
            Event::Alias(_) => self.value_done(),
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = self.value_path().unwrap_or_default();
                if !path.is_empty() {
                    self.record(path.clone(), mark);
                }
                self.stack.push(match event {
                    Event::MappingStart(..) => Frame::Mapping { path, key: None },
                    _ => Frame::Sequence { path, index: 0 },
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
server:
  listen: 127.0.0.1:8080
  trusted_proxies: [10.0.0.0/8, 192.168.0.0/16]
routes:
  - path: /api
    upstream: http://a
  - path: /
    upstream: http://b
    methods:
      - GET
";

    fn line(path: &str) -> usize {
        KeyLines::index(TEXT).find(path).unwrap().line
    }

    #[test]
    fn nested_keys_have_their_lines() {
        assert_eq!(line("server"), 1);
        assert_eq!(line("server.listen"), 2);
        assert_eq!(line("routes[0].path"), 5);
        assert_eq!(line("routes[1].upstream"), 8);
        assert_eq!(line("routes[1].methods[0]"), 10);
    }

    #[test]
    fn flow_sequence_items_are_indexed() {
        let pos = KeyLines::index(TEXT)
            .find("server.trusted_proxies[1]")
            .unwrap();
        assert_eq!((pos.line, pos.column), (3, 33));
    }

    #[test]
    fn unknown_path_falls_back_to_nearest_ancestor() {
        assert_eq!(line("routes[1].timeout"), 7);
        assert_eq!(line("server.limits.max_body_bytes"), 1);
    }

    #[test]
    fn broken_yaml_gives_empty_index() {
        assert!(KeyLines::index("a: [").find("a").is_none());
    }
}
