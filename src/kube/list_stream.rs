//! A LIST response read as it arrives (issue 16): each item of `items` is deserialized and handed
//! to the caller's reduction as soon as its last byte came, so neither the response body nor the
//! page's whole objects are ever held — only one item's bytes at a time. What matters most for
//! `--cached`, whose single watch-cache answer holds every object of a resource (200,000 pods,
//! half a gigabyte, at 100,000 ExternalSecrets); every paginated page is read the same way.
//!
//! [`Items`] finds the items by the JSON structure alone (strings and their escapes, brackets):
//! the top-level `items` array's elements and the top-level `metadata` object (for `continue`).

use futures::{AsyncBufRead, AsyncBufReadExt};
use kube::core::ListMeta;
use serde::de::DeserializeOwned;

/// Reads a LIST body from `body`, passing each item to `each`; returns the list's metadata.
pub async fn read<T, R>(body: R, mut each: impl FnMut(T)) -> Result<ListMeta, kube::Error>
where
    T: DeserializeOwned,
    R: AsyncBufRead + Unpin,
{
    let mut body = body;
    let mut items = Items::default();
    let mut failed = None;
    loop {
        let chunk = body.fill_buf().await.map_err(kube::Error::ReadEvents)?;
        if chunk.is_empty() {
            break;
        }
        let len = chunk.len();
        items.feed(chunk, |item| match serde_json::from_slice::<T>(item) {
            Ok(t) => each(t),
            Err(e) => {
                failed.get_or_insert(e);
            }
        });
        body.consume_unpin(len);
        if let Some(e) = failed.take() {
            return Err(kube::Error::SerdeError(e));
        }
    }
    items.finish()
}

/// What the scanner is inside of, outside strings.
#[derive(Debug, Default)]
pub struct Items {
    /// Open brackets (`{` or `[`) outside strings.
    depth: u32,
    in_string: bool,
    escaped: bool,
    /// At depth 1, before a key's colon: the key's bytes (only top-level keys are read).
    key: Vec<u8>,
    /// At depth 1: true between `{`/`,` and the key's closing quote.
    expect_key: bool,
    /// The top-level key whose value comes next.
    current: Vec<u8>,
    /// Inside the top-level `items` array (depth 2 is an element's own level).
    in_items: bool,
    /// The bytes of the element or `metadata` object being read, and the depth it started at.
    capture: Option<(Capture, u32)>,
    buf: Vec<u8>,
    metadata: Option<Vec<u8>>,
    /// The top-level object was opened.
    started: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capture {
    Item,
    Metadata,
}

impl Items {
    /// Scans `chunk`; calls `item` with each complete element of the top-level `items` array.
    pub fn feed(&mut self, chunk: &[u8], mut item: impl FnMut(&[u8])) {
        for &b in chunk {
            if self.capture.is_some() {
                self.buf.push(b);
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 1 && self.expect_key {
                        self.expect_key = false;
                        self.current = std::mem::take(&mut self.key);
                    }
                } else if self.depth == 1 && self.expect_key && self.key.len() < 64 {
                    self.key.push(b);
                }
                continue;
            }
            match b {
                b'"' => {
                    self.in_string = true;
                    self.start_value(b);
                }
                b'{' | b'[' => {
                    self.start_value(b);
                    self.depth += 1;
                    if self.depth == 1 {
                        self.started = true;
                        self.expect_key = b == b'{';
                    } else if self.depth == 2 && b == b'[' && self.current == b"items" {
                        self.in_items = true;
                    }
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 1 {
                        self.in_items = false;
                    }
                    self.end_value(b, &mut item);
                }
                b',' => {
                    self.end_value(b, &mut item);
                    if self.depth == 1 {
                        self.expect_key = true;
                        self.current.clear();
                    }
                }
                b' ' | b'\n' | b'\r' | b'\t' | b':' => {}
                _ => self.start_value(b),
            }
        }
    }

    /// A value's first byte: an element of `items`, or the top-level `metadata`, starts a capture.
    fn start_value(&mut self, first: u8) {
        if self.capture.is_some() {
            return;
        }
        let what = if self.in_items && self.depth == 2 {
            Capture::Item
        } else if self.depth == 1 && !self.expect_key && self.current == b"metadata" {
            Capture::Metadata
        } else {
            return;
        };
        self.buf.clear();
        self.buf.push(first);
        self.capture = Some((what, self.depth));
    }

    /// After a closing bracket or a comma: a capture that started at this depth is complete
    /// (a closing bracket of its own, or the comma after a scalar element).
    fn end_value(&mut self, b: u8, item: &mut impl FnMut(&[u8])) {
        let Some((what, at)) = self.capture else {
            return;
        };
        let complete = match b {
            b',' => self.depth == at,
            // The element's own bracket closed, or the array closed right after a scalar.
            _ => self.depth == at || self.depth + 1 == at,
        };
        if !complete {
            return;
        }
        if matches!(b, b',') || self.depth + 1 == at {
            // The comma or the array's bracket is not part of the value.
            self.buf.pop();
        }
        self.capture = None;
        match what {
            Capture::Item => item(&self.buf),
            Capture::Metadata => self.metadata = Some(std::mem::take(&mut self.buf)),
        }
    }

    /// The list's metadata; an error if the document was empty or ended early.
    pub fn finish(self) -> Result<ListMeta, kube::Error> {
        if !self.started || self.depth != 0 || self.in_string {
            return Err(kube::Error::ReadEvents(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the LIST response ended early",
            )));
        }
        match self.metadata {
            Some(m) => serde_json::from_slice(&m).map_err(kube::Error::SerdeError),
            None => Ok(ListMeta::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// The items and metadata of `doc`, fed in pieces of `size` bytes.
    fn scan(doc: &str, size: usize) -> Result<(Vec<Value>, ListMeta), String> {
        let mut items = Items::default();
        let mut out = Vec::new();
        for chunk in doc.as_bytes().chunks(size.max(1)) {
            items.feed(chunk, |b| {
                out.push(serde_json::from_slice::<Value>(b).unwrap_or(Value::Null))
            });
        }
        let meta = items.finish().map_err(|e| e.to_string())?;
        Ok((out, meta))
    }

    /// Issue 16: every item comes out whole, in order, whatever the chunking, with strings
    /// holding brackets, quotes, escapes and a key named `items`; the metadata (before or after
    /// the items) gives the continue token.
    #[test]
    fn issue16_items_and_metadata_whatever_the_chunks() {
        let items = json!([
            {"metadata": {"name": "a]}", "annotations": {"items": "[{\"x\": \"}\"}]"}}, "n": [1, [2, {}]]},
            {"metadata": {"name": "b\\\"c"}, "spec": {"data": []}},
            {},
            {"s": "\u{e9}t\u{e9} \\"},
        ]);
        for meta_first in [true, false] {
            let meta = json!({"continue": "tok", "resourceVersion": "7", "remainingItemCount": 3});
            let doc = if meta_first {
                json!({"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items})
            } else {
                json!({"apiVersion": "v1", "items": items, "kind": "List", "metadata": meta})
            };
            for text in [
                serde_json::to_string(&doc).unwrap_or_default(),
                serde_json::to_string_pretty(&doc).unwrap_or_default(),
            ] {
                for size in [1, 2, 3, 7, 64, 100_000] {
                    let Ok((got, meta)) = scan(&text, size) else {
                        panic!("{text} in pieces of {size}")
                    };
                    assert_eq!(Value::Array(got), items, "{text} in pieces of {size}");
                    assert_eq!(meta.continue_.as_deref(), Some("tok"));
                    assert_eq!(meta.resource_version.as_deref(), Some("7"));
                }
            }
        }
    }

    #[test]
    fn issue16_empty_null_and_cut_short_lists() {
        let Ok((got, meta)) = scan(r#"{"kind":"List","items":[],"metadata":{}}"#, 3) else {
            panic!("an empty list")
        };
        assert!(got.is_empty() && meta.continue_.is_none());
        let Ok((got, _)) = scan(r#"{"kind":"List","items":null}"#, 3) else {
            panic!("items: null")
        };
        assert!(got.is_empty());
        // A body that ends early, or never starts, is an error, not a shorter list.
        assert!(scan(r#"{"items":[{"a":1},{"b":"#, 4).is_err());
        assert!(scan(r#"{"items":[{"a":"x"#, 4).is_err());
        assert!(scan("", 4).is_err());
    }

    #[tokio::test]
    async fn issue16_read_deserializes_each_item_and_stops_at_a_bad_one() {
        #[derive(serde::Deserialize)]
        struct Named {
            name: String,
        }
        let body = br#"{"metadata":{"continue":"c"},"items":[{"name":"a"},{"name":"b"}]}"#;
        let mut names = Vec::new();
        let meta = read(&body[..], |n: Named| names.push(n.name)).await;
        assert_eq!(meta.ok().and_then(|m| m.continue_).as_deref(), Some("c"));
        assert_eq!(names, ["a", "b"]);
        let bad = br#"{"items":[{"name":"a"},{"name":7}]}"#;
        let read_bad = read(&bad[..], |_: Named| {}).await;
        assert!(matches!(read_bad, Err(kube::Error::SerdeError(_))));
    }
}
