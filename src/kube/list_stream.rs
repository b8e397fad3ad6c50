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
pub async fn read<T, R>(body: R, each: impl FnMut(T)) -> Result<ListMeta, kube::Error>
where
    T: DeserializeOwned,
    R: AsyncBufRead + Unpin,
{
    read_early(body, |_| {}, each).await
}

/// As [`read`], and `early` is called once with the list's metadata as soon as it has come —
/// before the items when the server sends it first, as kube-apiserver does for built-in types —
/// so the caller can ask for the next page while this one is still being read.
pub async fn read_early<T, R>(
    body: R,
    early: impl FnMut(&ListMeta),
    mut each: impl FnMut(T),
) -> Result<ListMeta, kube::Error>
where
    T: DeserializeOwned,
    R: AsyncBufRead + Unpin,
{
    let (meta, held) = read_held(body, 0, early, |item: T| each(item)).await?;
    debug_assert!(held.is_empty());
    Ok(meta)
}

/// A page's items as their bytes, held to be deserialized after the next page was asked for.
#[derive(Debug, Default)]
pub struct Held {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Held {
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Each held item's bytes, in order.
    pub fn items(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(self.ends.iter())
            .map(|(a, &b)| &self.bytes[a..b])
    }
}

/// Reads a LIST body to its end, holding up to `hold` bytes of items undecoded (returned in
/// [`Held`], for the caller to deserialize once it has asked for the next page, whose `continue`
/// token a custom resource's list only gives after its items); items beyond that budget — the
/// single answer of `--cached`, say — are deserialized and passed to `each` as they come, after
/// the held ones, so memory stays bounded and the order is kept. `early` as in [`read_early`].
pub async fn read_held<T, R>(
    body: R,
    hold: usize,
    mut early: impl FnMut(&ListMeta),
    mut each: impl FnMut(T),
) -> Result<(ListMeta, Held), kube::Error>
where
    T: DeserializeOwned,
    R: AsyncBufRead + Unpin,
{
    let mut body = body;
    let mut items = Items::default();
    let mut failed = None;
    let mut told = false;
    let mut held = Held::default();
    let mut holding = true;
    loop {
        let chunk = body.fill_buf().await.map_err(kube::Error::ReadEvents)?;
        if chunk.is_empty() {
            break;
        }
        let len = chunk.len();
        items.feed(chunk, |item| {
            if holding && held.bytes.len() + item.len() <= hold {
                held.bytes.extend_from_slice(item);
                held.ends.push(held.bytes.len());
                return;
            }
            if holding {
                // Over the budget: what was held goes first, then everything as it comes.
                holding = false;
                for h in held.items() {
                    if let Err(e) = decode(h, &mut each) {
                        failed.get_or_insert(e);
                    }
                }
                held = Held::default();
            }
            if let Err(e) = decode(item, &mut each) {
                failed.get_or_insert(e);
            }
        });
        body.consume_unpin(len);
        if let Some(e) = failed.take() {
            return Err(kube::Error::SerdeError(e));
        }
        if !told && let Some(m) = items.metadata.as_deref() {
            told = true;
            if let Ok(meta) = serde_json::from_slice::<ListMeta>(m) {
                early(&meta);
            }
        }
    }
    Ok((items.finish()?, held))
}

/// One item's bytes deserialized and passed on.
pub fn decode<T: DeserializeOwned>(
    item: &[u8],
    each: &mut impl FnMut(T),
) -> Result<(), serde_json::Error> {
    serde_json::from_slice::<T>(item).map(each)
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
    /// Strings, most of a LIST's bytes, are skipped with `memchr`; an element that lies within
    /// one chunk is handed over from the chunk itself, without a copy.
    pub fn feed(&mut self, chunk: &[u8], mut item: impl FnMut(&[u8])) {
        // Where the value being captured starts in this chunk (0: it began in an earlier one,
        // whose bytes are in `buf`).
        let mut from = 0;
        let mut i = 0;
        while i < chunk.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                let rest = &chunk[i..];
                let run = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                if self.depth == 1 && self.expect_key {
                    let room = 64usize.saturating_sub(self.key.len());
                    self.key.extend_from_slice(&rest[..run.min(room)]);
                }
                i += run;
                let Some(&b) = chunk.get(i) else {
                    break;
                };
                if b == b'\\' {
                    self.escaped = true;
                } else {
                    self.in_string = false;
                    if self.depth == 1 && self.expect_key {
                        self.expect_key = false;
                        self.current = std::mem::take(&mut self.key);
                    }
                }
                i += 1;
                continue;
            }
            let b = chunk[i];
            match b {
                b'"' => {
                    self.in_string = true;
                    if self.start_value(b) {
                        from = i;
                    }
                }
                b'{' | b'[' => {
                    if self.start_value(b) {
                        from = i;
                    }
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
                    self.end_value(b, chunk, i, from, &mut item);
                }
                b',' => {
                    self.end_value(b, chunk, i, from, &mut item);
                    if self.depth == 1 {
                        self.expect_key = true;
                        self.current.clear();
                    }
                }
                b' ' | b'\n' | b'\r' | b'\t' | b':' => {}
                _ => {
                    if self.start_value(b) {
                        from = i;
                    }
                }
            }
            i += 1;
        }
        if self.capture.is_some() {
            self.buf.extend_from_slice(&chunk[from..]);
        }
    }

    /// A value's first byte: an element of `items`, or the top-level `metadata`, starts a capture
    /// (true: at this byte).
    fn start_value(&mut self, _first: u8) -> bool {
        if self.capture.is_some() {
            return false;
        }
        let what = if self.in_items && self.depth == 2 {
            Capture::Item
        } else if self.depth == 1 && !self.expect_key && self.current == b"metadata" {
            Capture::Metadata
        } else {
            return false;
        };
        self.buf.clear();
        self.capture = Some((what, self.depth));
        true
    }

    /// After a closing bracket or a comma at `chunk[at]`: a capture that started at this depth
    /// is complete (a closing bracket of its own, or the comma after a scalar element).
    fn end_value(
        &mut self,
        b: u8,
        chunk: &[u8],
        at: usize,
        from: usize,
        item: &mut impl FnMut(&[u8]),
    ) {
        let Some((what, level)) = self.capture else {
            return;
        };
        let complete = match b {
            b',' => self.depth == level,
            // The element's own bracket closed, or the array closed right after a scalar.
            _ => self.depth == level || self.depth + 1 == level,
        };
        if !complete {
            return;
        }
        // The comma or the array's bracket is not part of the value.
        let end = if matches!(b, b',') || self.depth + 1 == level {
            at
        } else {
            at + 1
        };
        self.capture = None;
        let value: &[u8] = if self.buf.is_empty() {
            &chunk[from..end]
        } else {
            self.buf.extend_from_slice(&chunk[from..end]);
            &self.buf
        };
        match what {
            Capture::Item => item(value),
            Capture::Metadata => self.metadata = Some(value.to_vec()),
        }
        self.buf.clear();
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

    /// Issue 16 (pipelining): within the budget a page's items are held, undecoded, in order;
    /// over it the held ones come first, then the rest as they arrive — never out of order, never
    /// more than the budget held. Metadata sent first is announced before the items are read.
    #[tokio::test]
    async fn issue16_items_are_held_within_the_budget_and_kept_in_order() {
        #[derive(serde::Deserialize)]
        struct Named {
            name: String,
        }
        let names = |held: &Held| -> Vec<String> {
            held.items()
                .filter_map(|b| serde_json::from_slice::<Named>(b).ok())
                .map(|n| n.name)
                .collect()
        };
        let body =
            br#"{"items":[{"name":"a"},{"name":"bb"},{"name":"c"}],"metadata":{"continue":"t"}}"#;
        // Everything held: nothing decoded while reading, the token at the end.
        let mut decoded = Vec::new();
        let Ok((meta, held)) =
            read_held(&body[..], 1 << 20, |_| {}, |n: Named| decoded.push(n.name)).await
        else {
            panic!("a whole page")
        };
        assert!(decoded.is_empty());
        assert_eq!(names(&held), ["a", "bb", "c"]);
        assert_eq!(meta.continue_.as_deref(), Some("t"));
        // A budget of two items' bytes: the third goes over, so all three are decoded in order.
        let budget = br#"{"name":"a"}"#.len() + br#"{"name":"bb"}"#.len();
        let mut decoded = Vec::new();
        let Ok((_, held)) =
            read_held(&body[..], budget, |_| {}, |n: Named| decoded.push(n.name)).await
        else {
            panic!("a whole page")
        };
        assert!(held.is_empty());
        assert_eq!(decoded, ["a", "bb", "c"]);
        // Metadata first: announced once, as soon as it came (here in pieces of 8 bytes),
        // before the item after it is decoded.
        let first = br#"{"metadata":{"continue":"u"},"items":[{"name":"x"}]}"#;
        let mut seen = Vec::new();
        let log = std::cell::RefCell::new(Vec::new());
        let got = read_early(
            futures::io::BufReader::with_capacity(8, &first[..]),
            |m| log.borrow_mut().push(format!("meta {:?}", m.continue_)),
            |n: Named| log.borrow_mut().push(n.name),
        )
        .await;
        seen.extend(log.into_inner());
        assert!(got.is_ok());
        assert_eq!(seen, ["meta Some(\"u\")", "x"]);
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
