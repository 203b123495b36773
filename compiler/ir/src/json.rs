//! Compact JSON written straight into a string.
//!
//! The output is exactly what `serde_json::to_string` gives for the same document (no
//! spaces, keys in the order written, the same string escapes), so a writer built on
//! [`JsonOut`] can replace a `serde_json::Value` without changing a byte. It exists because
//! building a `Value` tree (a map per object, a string per key) costs far more than the text
//! itself when a batch writes an explanation for every row.

use rust_decimal::Decimal;
use std::fmt::{Display, Write as _};

/// The two-digit numbers `00` to `99`, side by side: digits are written two at a time.
const DIGIT_PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes the digits of `m` (nothing for 0) into `buffer` ending before `at`, two at a
/// time; returns where they start.
fn digits_before(buffer: &mut [u8], mut at: usize, mut m: u64) -> usize {
    while m >= 100 {
        let pair = (m % 100) as usize * 2;
        m /= 100;
        at -= 2;
        buffer[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if m >= 10 {
        let pair = m as usize * 2;
        at -= 2;
        buffer[at..at + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else if m > 0 {
        at -= 1;
        buffer[at] = b'0' + m as u8;
    }
    at
}

/// Pushes ASCII bytes as chars, without checking they are UTF-8 (which costs more than
/// writing them).
fn push_ascii(text: &mut String, bytes: &[u8]) {
    text.extend(bytes.iter().map(|&b| char::from(b)));
}

/// Writes the decimal digits of `n` (formatting machinery costs more than the digits when
/// a trace writes hundreds of numbers a row).
fn push_digits(text: &mut String, n: u64) {
    match n {
        0..10 => text.push(char::from(b'0' + n as u8)),
        10..100 => {
            let pair = n as usize * 2;
            text.push(char::from(DIGIT_PAIRS[pair]));
            text.push(char::from(DIGIT_PAIRS[pair + 1]));
        }
        100..1000 => {
            let pair = (n % 100) as usize * 2;
            text.push(char::from(b'0' + (n / 100) as u8));
            text.push(char::from(DIGIT_PAIRS[pair]));
            text.push(char::from(DIGIT_PAIRS[pair + 1]));
        }
        _ => {
            let mut digits = [0u8; 20];
            let at = digits_before(&mut digits, 20, n);
            push_ascii(text, &digits[at..]);
        }
    }
}

/// Writes an integer as its `Display` does.
pub fn push_integer(text: &mut String, n: i128) {
    if n < 0 {
        text.push('-');
    }
    match u64::try_from(n.unsigned_abs()) {
        Ok(small) => push_digits(text, small),
        Err(_) => {
            let _ = write!(text, "{}", n.unsigned_abs());
        }
    }
}

/// Writes a decimal exactly as its `Display` does (`-1.50`, `0.05`, `-0`: every digit of its
/// scale, no exponent), without the formatting machinery: outputs and traces write a number
/// or several on every row.
pub fn push_decimal(text: &mut String, n: Decimal) {
    let mantissa = n.mantissa().unsigned_abs();
    let scale = n.scale() as usize;
    match u64::try_from(mantissa) {
        // Most numbers: the fraction's digits, the point and the whole part, written from
        // the end in one pass.
        Ok(small) if scale < 20 => push_small_decimal(text, small, scale, n.is_sign_negative()),
        _ => push_wide_decimal(text, mantissa, scale, n.is_sign_negative()),
    }
}

/// [`push_decimal`] of a mantissa that fits 64 bits, with fewer than 20 places.
fn push_small_decimal(text: &mut String, mut m: u64, scale: usize, negative: bool) {
    // At most 20 digits, a leading `0`, a point and a sign.
    let mut buffer = [b'0'; 24];
    let mut at = buffer.len();
    for _ in 0..scale {
        at -= 1;
        buffer[at] = b'0' + (m % 10) as u8;
        m /= 10;
    }
    if scale > 0 {
        at -= 1;
        buffer[at] = b'.';
    }
    if m == 0 {
        // No whole digits: a `0` (the buffer's own).
        at -= 1;
    } else {
        at = digits_before(&mut buffer, at, m);
    }
    if negative {
        at -= 1;
        buffer[at] = b'-';
    }
    push_ascii(text, &buffer[at..]);
}

/// [`push_decimal`] of any mantissa and scale.
fn push_wide_decimal(text: &mut String, mut wide: u128, scale: usize, negative: bool) {
    // A decimal has at most 29 digits (a 96-bit mantissa) and a scale of at most 28: with a
    // sign, a leading `0` and a point, its text fits in 32 bytes. The digits are written
    // from the end, the fraction's leading zeros are the buffer's own.
    const MAX_SCALE: usize = 28;
    let mut buffer = [b'0'; 32];
    let end = buffer.len();
    let mut at = end;
    // The low digits in 64-bit arithmetic, much faster than 128-bit division.
    while wide > u128::from(u64::MAX) {
        at -= 1;
        buffer[at] = b'0' + (wide % 10) as u8;
        wide /= 10;
    }
    at = digits_before(&mut buffer, at, u64::try_from(wide).unwrap_or_default());
    let scale = scale.min(MAX_SCALE);
    if scale > 0 {
        // The fraction, then its point, moved one place to the left with the whole part.
        let whole_start = at.min(end - scale);
        buffer.copy_within(whole_start..end - scale, whole_start - 1);
        at = whole_start - 1;
        buffer[end - scale - 1] = b'.';
        // No whole digits: a `0` before the point (the buffer's own).
        if at == end - scale - 1 {
            at -= 1;
        }
    } else if at == end {
        at -= 1;
    }
    if negative {
        at -= 1;
        buffer[at] = b'-';
    }
    push_ascii(text, &buffer[at..]);
}

/// Writes compact JSON text (as [`JsonOut`] or `serde_json::to_string` write it) indented
/// exactly as `serde_json::to_string_pretty` indents it (two spaces, `"key": value`, empty
/// objects and arrays as `{}` and `[]`, no final line break), in one pass over the text: a
/// large document is printed without building a `serde_json::Value` of it.
pub fn write_pretty(compact: &str, out: &mut impl std::io::Write) -> std::io::Result<()> {
    const INDENT: &[u8] = b"  ";
    let bytes = compact.as_bytes();
    let mut text: Vec<u8> = Vec::with_capacity(bytes.len().min(1 << 16) + 256);
    let mut depth = 0usize;
    let newline = |text: &mut Vec<u8>, depth: usize| {
        text.push(b'\n');
        for _ in 0..depth {
            text.extend_from_slice(INDENT);
        }
    };
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                // A string, escapes included, copied as it is.
                let start = i;
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    i += if c == b'\\' { 2 } else { 1 };
                    if c == b'"' {
                        break;
                    }
                }
                text.extend_from_slice(&bytes[start..i.min(bytes.len())]);
                continue;
            }
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                text.push(b);
                if bytes.get(i + 1) == Some(&close) {
                    text.push(close);
                    i += 1;
                } else {
                    depth += 1;
                    newline(&mut text, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut text, depth);
                text.push(b);
            }
            b',' => {
                text.push(b',');
                newline(&mut text, depth);
            }
            b':' => text.extend_from_slice(b": "),
            b' ' | b'\n' | b'\r' | b'\t' => {}
            _ => text.push(b),
        }
        i += 1;
        if text.len() >= 1 << 16 {
            out.write_all(&text)?;
            text.clear();
        }
    }
    out.write_all(&text)
}

/// A JSON document being written. Commas are placed by the writer: call [`key`](JsonOut::key)
/// before each member of an object, and write values one after another in an array.
#[derive(Debug, Default, Clone)]
pub struct JsonOut {
    text: String,
    /// Whether the next value or key follows another one at the same level.
    comma: bool,
}

impl JsonOut {
    pub fn new() -> JsonOut {
        JsonOut::default()
    }

    /// The JSON written so far.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn into_string(self) -> String {
        self.text
    }

    /// The length of the JSON written so far, in bytes.
    pub fn len(&self) -> usize {
        self.text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Whether the next value or key follows another at the same level (and so is written
    /// after a comma).
    pub fn after_value(&self) -> bool {
        self.comma
    }

    /// Empties the writer, keeping its buffer for the next document.
    pub fn clear(&mut self) {
        self.text.clear();
        self.comma = false;
    }

    #[inline]
    fn separate(&mut self) {
        if self.comma {
            self.text.push(',');
        }
        self.comma = true;
    }

    #[inline]
    pub fn begin_object(&mut self) {
        self.separate();
        self.text.push('{');
        self.comma = false;
    }

    #[inline]
    pub fn end_object(&mut self) {
        self.text.push('}');
        self.comma = true;
    }

    #[inline]
    pub fn begin_array(&mut self) {
        self.separate();
        self.text.push('[');
        self.comma = false;
    }

    #[inline]
    pub fn end_array(&mut self) {
        self.text.push(']');
        self.comma = true;
    }

    /// Starts an object member; its value is the next thing written.
    pub fn key(&mut self, key: &str) -> &mut JsonOut {
        self.separate();
        escape_into(&mut self.text, key);
        self.text.push(':');
        self.comma = false;
        self
    }

    /// Starts an object member whose key needs no escape (a name the program chose), written
    /// without scanning it: traces write one in every "no value".
    pub fn plain_key(&mut self, key: &'static str) -> &mut JsonOut {
        debug_assert!(first_escape(key.as_bytes(), 0) == key.len(), "{key:?} needs escapes");
        self.separate();
        self.text.push('"');
        self.text.push_str(key);
        self.text.push_str("\":");
        self.comma = false;
        self
    }

    pub fn str(&mut self, s: &str) {
        self.separate();
        escape_into(&mut self.text, s);
    }

    /// A string, or `null` for `None`.
    pub fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.null(),
        }
    }

    /// A value's `Display` text as a JSON string, without an intermediate `String`.
    pub fn str_display(&mut self, value: impl Display) {
        self.separate();
        let start = self.text.len();
        // Writing to a String cannot fail.
        let _ = write!(self.text, "{value}");
        if self.text[start..].bytes().any(needs_escape) {
            let raw = self.text.split_off(start);
            escape_into(&mut self.text, &raw);
        } else {
            self.text.insert(start, '"');
            self.text.push('"');
        }
    }

    #[inline]
    pub fn bool(&mut self, b: bool) {
        self.separate();
        // Two copies of known length, which need no call to copy.
        if b {
            self.text.push_str("true");
        } else {
            self.text.push_str("false");
        }
    }

    #[inline]
    pub fn null(&mut self) {
        self.separate();
        self.text.push_str("null");
    }

    /// An integer as a JSON number.
    #[inline]
    pub fn int(&mut self, n: impl Into<i128>) {
        let n = n.into();
        match u64::try_from(n) {
            Ok(whole) => self.whole(whole),
            Err(_) => {
                self.separate();
                push_integer(&mut self.text, n);
            }
        }
    }

    /// A count or position as a JSON number.
    #[inline]
    pub fn count(&mut self, n: usize) {
        self.whole(n as u64);
    }

    /// A whole number as a JSON number; one digit (most numbers in a trace) is written with
    /// its comma at once.
    #[inline]
    pub fn whole(&mut self, n: u64) {
        if n < 10 {
            if self.comma {
                self.text.push(',');
            }
            self.comma = true;
            self.text.push(char::from(b'0' + n as u8));
        } else {
            self.separate();
            push_digits(&mut self.text, n);
        }
    }

    /// A document built elsewhere, written in its compact form.
    pub fn value(&mut self, json: &serde_json::Value) {
        self.separate();
        let _ = write!(self.text, "{json}");
    }

    /// A decimal as a JSON number with its exact text (its scale kept: `1.50`).
    #[inline]
    pub fn decimal(&mut self, n: Decimal) {
        self.separate();
        push_decimal(&mut self.text, n);
    }

    /// Text that is already one JSON value (compact), written as it is.
    #[inline]
    pub fn raw(&mut self, json: &str) {
        self.separate();
        self.text.push_str(json);
    }
}

fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Writes `s` as a quoted JSON string with serde_json's escapes: `\"`, `\\`, the short forms
/// `\b \f \n \r \t`, and `\u00xx` (lower-case hex) for other control characters.
fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut plain = 0;
    let mut i = first_escape(bytes, 0);
    while let Some(&b) = bytes.get(i) {
        out.push_str(&s[plain..i]);
        plain = i + 1;
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                let _ = write!(out, "\\u{b:04x}");
            }
        }
        i = first_escape(bytes, i + 1);
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

/// The first position at or after `from` that needs an escape (or the length), eight bytes
/// at a time: most text (names, source lines, numbers) has none, and the writer spends
/// its time scanning it.
fn first_escape(bytes: &[u8], mut from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A byte of `x` is zero exactly where the high bit of this is set (no false positives
    // below the first zero byte, which is all that is needed to find the first one).
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    while let Some(rest) = bytes.get(from..)
        && !rest.is_empty()
    {
        let (x, take) = match rest.first_chunk::<8>() {
            Some(word) => (u64::from_le_bytes(*word), 8),
            None => {
                // A short last piece is padded with a byte that needs no escape.
                let mut word = [b' '; 8];
                word[..rest.len()].copy_from_slice(rest);
                (u64::from_le_bytes(word), rest.len())
            }
        };
        // Bytes below 0x20 (control characters; bytes of 0x80 and above are excluded by `!x`),
        // quotes and backslashes.
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
        let found = control | zero_bytes(x ^ (ONES * u64::from(b'"'))) | zero_bytes(x ^ (ONES * u64::from(b'\\')));
        if found != 0 {
            return from + (found.trailing_zeros() / 8) as usize;
        }
        from += take;
    }
    bytes.len().max(from)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every digit, sign and scale as `Display` writes it: zeros of every scale, minus zero,
    /// the largest mantissas, and a spread of others.
    #[test]
    fn decimals_are_written_as_display_writes_them() {
        let mut mantissas: Vec<i128> = vec![0, 1, 5, 9, 10, 99, 100, 12_345, i64::MAX as i128, i64::MAX as i128 + 1];
        mantissas.push((1i128 << 96) - 1);
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..300 {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            let bits = (seed >> 58) as u32; // 0..63 significant bits
            mantissas.push(i128::from(seed >> (64 - bits.max(1))));
        }
        let mut text = String::new();
        for &m in &mantissas {
            for scale in 0..=28 {
                for negative in [false, true] {
                    let mut n = Decimal::from_i128_with_scale(m, scale);
                    n.set_sign_negative(negative);
                    text.clear();
                    push_decimal(&mut text, n);
                    assert_eq!(text, n.to_string(), "mantissa {m}, scale {scale}, negative {negative}");
                }
            }
        }
    }

    /// The writer's text is serde_json's for the same document, escapes included.
    #[test]
    fn matches_serde_json() {
        let tricky = "a \"quoted\" \\ path\n\ttab \u{1} \u{8}\u{c}\r £ ✓ \u{7f}";
        let mut out = JsonOut::new();
        out.begin_object();
        out.key("text").str(tricky);
        out.key("shown").str_display(format_args!("x{tricky}"));
        out.key("plain").str_display(12.5);
        out.key("none").opt_str(None);
        out.key("some").opt_str(Some("s"));
        out.key("n").int(-42i64);
        out.key("big").int(u64::MAX);
        out.key("count").count(usize::MAX);
        out.key("list").begin_array();
        out.bool(true);
        out.bool(false);
        out.null();
        out.begin_object();
        out.end_object();
        out.begin_array();
        out.end_array();
        out.value(&serde_json::json!({"k": [1, "two"]}));
        out.raw("{\"r\":1}");
        out.end_array();
        out.key(tricky).int(0u8);
        out.end_object();
        let expected = serde_json::json!({
            "text": tricky,
            "shown": format!("x{tricky}"),
            "plain": "12.5",
            "none": null,
            "some": "s",
            "n": -42,
            "big": u64::MAX,
            "count": usize::MAX,
            "list": [true, false, null, {}, [], {"k": [1, "two"]}, {"r": 1}],
            tricky: 0,
        });
        assert_eq!(out.as_str(), expected.to_string());
        let reread: serde_json::Value = serde_json::from_str(out.as_str()).expect("valid JSON");
        assert_eq!(reread, expected);
    }

    /// Reindenting compact text gives serde_json's pretty text, byte for byte.
    #[test]
    fn pretty_text_is_serde_jsons() {
        let tricky = "a \"quoted\" \\ {path}: [x], \n\ttab \u{1} £ ✓";
        let documents = [
            serde_json::json!({}),
            serde_json::json!([]),
            serde_json::json!("just a string, with: {braces} and [brackets]"),
            serde_json::json!(12),
            serde_json::json!({
                "text": tricky,
                tricky: [1, -2.50, null, true, false, {}, [], [[]], [{}], {"a": {}}],
                "nested": {"list": [{"k": "v", "e": []}, "two", {"deep": {"deeper": [1, {"x": "y"}]}}]},
                "empty key": {"": ""},
            }),
        ];
        for document in documents {
            let mut pretty = Vec::new();
            write_pretty(&document.to_string(), &mut pretty).expect("written");
            let expected = serde_json::to_string_pretty(&document).expect("serialisable");
            assert_eq!(String::from_utf8(pretty).expect("UTF-8"), expected);
        }
    }

    /// The word-at-a-time scan stops exactly at the first special byte, and escaping gives serde_json's text wherever the special characters fall.
    #[test]
    fn scan_finds_every_escape() {
        let specials = ['"', '\\', '\u{0}', '\u{1f}', '\n'];
        let harmless = ['a', ' ', '!', '#', ']', '\u{7f}', '£', '✓'];
        for len in 0..24 {
            for at in 0..=len {
                for &special in &specials {
                    let text: String =
                        (0..len).map(|i| if i == at { special } else { harmless[i % harmless.len()] }).collect();
                    let bytes = text.as_bytes();
                    for from in 0..=bytes.len() {
                        let first = (from..bytes.len()).find(|&i| needs_escape(bytes[i])).unwrap_or(bytes.len());
                        assert_eq!(first_escape(bytes, from), first, "{text:?} from {from}");
                    }
                    let mut out = String::new();
                    escape_into(&mut out, &text);
                    assert_eq!(out, serde_json::to_string(&text).expect("a string"), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn integers_are_their_decimal_text() {
        let samples = [0, 7, -7, 10, 99, -100, i128::from(u64::MAX), -i128::from(u64::MAX) - 1, i128::MAX, i128::MIN];
        for n in samples {
            let mut out = JsonOut::new();
            out.int(n);
            assert_eq!(out.as_str(), n.to_string());
        }
        for n in [0usize, 9, 10, 12_345, usize::MAX] {
            let mut out = JsonOut::new();
            out.count(n);
            assert_eq!(out.as_str(), n.to_string());
        }
    }

    #[test]
    fn clear_starts_a_new_document() {
        let mut out = JsonOut::new();
        out.int(1u8);
        out.clear();
        out.begin_array();
        out.int(2u8);
        out.end_array();
        assert_eq!(out.into_string(), "[2]");
    }
}
