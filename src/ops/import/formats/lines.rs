//! Lines and fields of delimited text: 1-based line numbers, byte spans for the DLQ, `\r\n`
//! endings, and fields split on one byte. Vendor files quote nothing; a generic CSV field in
//! double quotes loses them.

use std::ops::Range;

/// A non-blank line: its 1-based number, its bytes in the text, and the text.
pub struct Line<'a> {
    pub number: u64,
    pub span: Range<usize>,
    pub text: &'a str,
}

/// The non-blank lines of `text`.
pub fn lines(text: &str) -> impl Iterator<Item = Line<'_>> {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut number = 0;
    std::iter::from_fn(move || {
        while start < bytes.len() {
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i);
            number += 1;
            let mut stop = end;
            if stop > start && bytes[stop - 1] == b'\r' {
                stop -= 1;
            }
            let span = start..stop;
            start = end + 1;
            if span.is_empty() {
                continue;
            }
            return Some(Line {
                number,
                text: &text[span.clone()],
                span,
            });
        }
        None
    })
}

/// How many lines `text` has at most: the capacity to reserve for its records.
pub fn count(text: &str) -> usize {
    memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1
}

/// Splits `line` on `delimiter` into `out` (cleared first), unquoting `"..."` fields.
pub fn split<'a>(line: &'a str, delimiter: u8, out: &mut Vec<&'a str>) {
    out.clear();
    let bytes = line.as_bytes();
    let mut start = 0;
    for i in memchr::memchr_iter(delimiter, bytes) {
        out.push(unquote(&line[start..i]));
        start = i + 1;
    }
    out.push(unquote(&line[start..]));
}

fn unquote(field: &str) -> &str {
    field
        .strip_prefix('"')
        .and_then(|f| f.strip_suffix('"'))
        .unwrap_or(field)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_spans_and_fields() {
        let text = "a,b\r\n\n\"c\",d\n";
        let got: Vec<_> = lines(text).map(|l| (l.number, l.span, l.text)).collect();
        assert_eq!(got, vec![(1, 0..3, "a,b"), (3, 6..11, "\"c\",d")]);
        let mut out = Vec::new();
        split("\"c\",d,", b',', &mut out);
        assert_eq!(out, vec!["c", "d", ""]);
    }
}
