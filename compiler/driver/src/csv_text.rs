//! CSV text read and written in memory, for `covenant batch`.
//!
//! The reading thread only finds where each record ends ([`RecordBuffer`]), which needs
//! nothing but the quotes and line ends; the workers split the records into cells
//! ([`Cells::split`]) side by side. Both read CSV exactly as the `csv` crate does with its
//! defaults (a property test checks them against it):
//! - fields are separated by commas;
//! - a field that starts with a double quote is quoted up to the next lone double quote, and
//!   a doubled one inside stands for one; after the closing quote, and anywhere in a field
//!   that did not start with one, a double quote is plain text;
//! - outside quotes, `\n`, `\r` and `\r\n` end a record, and empty lines are no records;
//! - a UTF-8 byte order mark at the very start of the file is not part of it.
//!
//! Cells are written as the `csv` crate writes them ([`push_field`]): in double quotes, with
//! a double quote inside doubled, when they hold a comma, a double quote or a line end, and
//! as they are otherwise.
//!
//! The few bytes that matter are looked for eight at a time ([`find`]), which makes this
//! several times quicker than a general CSV reader, whether they are rare (long plain cells)
//! or close together (JSON in a cell, where every quote is doubled).

/// The UTF-8 byte order mark, which some programs write at the start of a CSV file.
const BYTE_ORDER_MARK: &[u8] = b"\xef\xbb\xbf";

/// What [`RecordBuffer::next_record`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// A record without its line end, for [`RecordBuffer::record`].
    Record(std::ops::Range<usize>),
    /// More of the file is needed: read it into [`RecordBuffer::space`], then call
    /// [`RecordBuffer::add`].
    More,
    /// The file has no more records.
    End,
}

/// A CSV file's records, found as the file is read block by block: the caller reads into
/// [`space`](RecordBuffer::space), says how much came with [`add`](RecordBuffer::add), and
/// takes records out with [`next_record`](RecordBuffer::next_record). Only the record being
/// looked for is kept, so memory does not grow with the file (a record longer than the buffer
/// makes it grow to hold it). No I/O here: the caller reads.
#[derive(Debug)]
pub struct RecordBuffer {
    /// The bytes read and not yet given out are `buf[start..filled]`.
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    /// The search for the end of the record at `start`, while one is under way.
    scan: Option<RecordScan>,
    /// Whether the start of the file (and any byte order mark) is behind.
    begun: bool,
    ended: bool,
    /// Bytes of the file dropped from the front of `buf`.
    dropped: u64,
}

impl RecordBuffer {
    /// A buffer that takes the file `block` bytes at a time.
    pub fn new(block: usize) -> RecordBuffer {
        RecordBuffer {
            buf: vec![0; block.max(1)],
            start: 0,
            filled: 0,
            scan: None,
            begun: false,
            ended: false,
            dropped: 0,
        }
    }

    /// The next record, or what is needed to find it.
    pub fn next_record(&mut self) -> Next {
        if !self.begun {
            if self.filled < BYTE_ORDER_MARK.len() && !self.ended {
                return Next::More;
            }
            if self.buf[..self.filled].starts_with(BYTE_ORDER_MARK) {
                self.start = BYTE_ORDER_MARK.len();
            }
            self.begun = true;
        }
        let bytes = &self.buf[..self.filled];
        let scan = match &mut self.scan {
            Some(scan) => scan,
            None => {
                self.start = skip_line_ends(bytes, self.start);
                if self.start == self.filled {
                    return if self.ended { Next::End } else { Next::More };
                }
                self.scan.insert(RecordScan::new(self.start))
            }
        };
        let end = match scan.end(bytes, self.start) {
            Some(end) => end,
            // At the end of the file, the last record runs to its end.
            None if self.ended => self.filled,
            None => return Next::More,
        };
        let start = std::mem::replace(&mut self.start, end);
        self.scan = None;
        Next::Record(start..end)
    }

    /// The bytes of a record that [`next_record`](RecordBuffer::next_record) gave, until
    /// [`space`](RecordBuffer::space) is next called.
    pub fn record(&self, range: std::ops::Range<usize>) -> &[u8] {
        self.buf.get(range).unwrap_or_default()
    }

    /// Room to read more of the file into, after dropping the records given out.
    pub fn space(&mut self) -> &mut [u8] {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.filled, 0);
            if let Some(scan) = &mut self.scan {
                scan.moved(self.start);
            }
            self.filled -= self.start;
            self.dropped += self.start as u64;
            self.start = 0;
        }
        if self.filled == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        &mut self.buf[self.filled..]
    }

    /// Counts the bytes read into [`space`](RecordBuffer::space); none means the file ended.
    pub fn add(&mut self, read: usize) {
        self.filled = (self.filled + read).min(self.buf.len());
        self.ended = read == 0;
    }

    /// Bytes of the file given out so far.
    pub fn position(&self) -> u64 {
        self.dropped + self.start as u64
    }
}

/// The first place at or after `from` that is not a line end: where the next record starts
/// (empty lines are skipped, as the line end of the record before).
fn skip_line_ends(bytes: &[u8], from: usize) -> usize {
    let rest = bytes.get(from..).unwrap_or_default();
    from + rest.iter().take_while(|&&b| b == b'\n' || b == b'\r').count()
}

/// The search for the end of one record, which can go on as more of the file is read: it
/// keeps how far it has looked and whether that is inside quotes. Places are indexes into
/// the buffer the record is in; [`RecordScan::moved`] follows the buffer when what is before
/// the record is dropped from it.
#[derive(Debug, Clone, Copy, Default)]
struct RecordScan {
    at: usize,
    quoted: bool,
}

impl RecordScan {
    /// A search for the end of the record that starts at `start`.
    fn new(start: usize) -> RecordScan {
        RecordScan { at: start, quoted: false }
    }

    /// The place of the line end that ends the record starting at `start` (not past it), or
    /// `None` when `bytes` ends first: then, with more bytes after these, call again; at the
    /// end of the file the record runs to the end.
    fn end(&mut self, bytes: &[u8], start: usize) -> Option<usize> {
        loop {
            if self.at > bytes.len() {
                return None;
            }
            if self.quoted {
                let Some(quote) = find(bytes, self.at, [b'"']) else {
                    self.at = bytes.len();
                    return None;
                };
                match bytes.get(quote + 1) {
                    // Whether the quote is doubled depends on a byte not read yet.
                    None => {
                        self.at = quote;
                        return None;
                    }
                    Some(b'"') => self.at = quote + 2,
                    Some(_) => {
                        self.quoted = false;
                        self.at = quote + 1;
                    }
                }
            } else {
                let Some(found) = find(bytes, self.at, [b'"', b'\n', b'\r']) else {
                    self.at = bytes.len();
                    return None;
                };
                if bytes[found] != b'"' {
                    return Some(found);
                }
                // Only a quote that starts a field opens quotes.
                self.quoted = found == start || bytes[found - 1] == b',';
                self.at = found + 1;
            }
        }
    }

    /// The same search after the first `dropped` bytes of the buffer were removed.
    fn moved(&mut self, dropped: usize) {
        self.at -= dropped;
    }
}

const ONES: u64 = u64::from_le_bytes([1; 8]);
const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);

/// The first place at or after `from` holding one of `needles`. Eight bytes are tested at
/// once: a byte of `word` is zero where `word - ONES` borrows into its high bit and the byte
/// had no high bit of its own. Borrows only flag bytes above a zero one, so the lowest flag
/// is always a true match, and no call or setup is paid for needles only a few bytes away.
#[inline(always)]
fn find<const N: usize>(bytes: &[u8], from: usize, needles: [u8; N]) -> Option<usize> {
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else { break };
        let word = u64::from_le_bytes(chunk);
        let mut found = 0;
        for needle in needles {
            let matched = word ^ (ONES * u64::from(needle));
            found |= matched.wrapping_sub(ONES) & !matched & HIGHS;
        }
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = bytes.get(at..)?;
    rest.iter().position(|b| needles.contains(b)).map(|i| at + i)
}

/// Copies `record[at..]` to `out[written..]` up to the first `needle`, eight bytes at a time
/// as [`find`] looks (a copy may write up to eight bytes past what it keeps, so `out` has
/// eight bytes more than `record`). Gives the needle's place (`None`: none before the end)
/// and where the copy ends in `out`. Never writes more than it reads, so `written <= at`.
#[inline(always)]
fn copy_until(record: &[u8], mut at: usize, out: &mut [u8], mut written: usize, needle: u8) -> (Option<usize>, usize) {
    let spread = ONES * u64::from(needle);
    while let Some(chunk) = record.get(at..at + 8) {
        let Ok(chunk) = <[u8; 8]>::try_from(chunk) else { break };
        if let Some(to) = out.get_mut(written..written + 8) {
            to.copy_from_slice(&chunk);
        }
        let matched = u64::from_le_bytes(chunk) ^ spread;
        let found = matched.wrapping_sub(ONES) & !matched & HIGHS;
        if found != 0 {
            let before = (found.trailing_zeros() / 8) as usize;
            return (Some(at + before), written + before);
        }
        at += 8;
        written += 8;
    }
    while let Some(&byte) = record.get(at) {
        if byte == needle {
            return (Some(at), written);
        }
        if let Some(to) = out.get_mut(written) {
            *to = byte;
        }
        at += 1;
        written += 1;
    }
    (None, written)
}

/// Appends a cell to a CSV line being written: quoted when it holds a comma, a double quote
/// or a line end (which a reader would take for the end of the cell or the record).
pub fn push_field(line: &mut String, cell: &str) {
    if !cell.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        line.push_str(cell);
        return;
    }
    line.push('"');
    for (i, part) in cell.split('"').enumerate() {
        if i > 0 {
            line.push_str("\"\"");
        }
        line.push_str(part);
    }
    line.push('"');
}

/// One record's cells, split and unquoted; the buffers are kept from record to record.
#[derive(Debug, Default)]
pub struct Cells {
    text: String,
    /// Where each cell ends in `text`.
    ends: Vec<usize>,
    /// The cells kept as written between their quotes ([`CellText::Doubled`]), a bit each.
    doubled: u64,
    /// The columns whose quoted cells are kept so when they can be, a bit each (of the first
    /// 64 columns).
    doubled_columns: u64,
}

/// A cell's text: as it is, or for a column that reads it so ([`Cells::keep_doubled`]) as it
/// was written between its quotes, each double quote in it still doubled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellText<'a> {
    Plain(&'a str),
    Doubled(&'a str),
}

impl<'a> CellText<'a> {
    /// The cell's text, with doubled quotes made single.
    #[inline]
    pub fn unquoted(self) -> std::borrow::Cow<'a, str> {
        match self {
            CellText::Plain(text) => std::borrow::Cow::Borrowed(text),
            // Every quote in the text is one of a pair (`Cells::split` keeps no other text
            // doubled), so the pairs are found left to right.
            CellText::Doubled(text) => std::borrow::Cow::Owned(text.replace("\"\"", "\"")),
        }
    }
}

impl Cells {
    /// Cells whose quoted cells in `columns` (`true` for each such column, of the first 64)
    /// are kept as written, doubled quotes and all, when the cell is quoted from end to end.
    /// A reader of JSON in a cell reads them so, without first copying every byte but every
    /// other quote: JSON has a quote every few bytes, and telling a doubled quote from the
    /// closing one byte by byte costs more than the rest of the row's reading.
    pub fn keep_doubled(columns: &[bool]) -> Cells {
        let doubled_columns = columns.iter().take(64).enumerate().filter(|(_, keep)| **keep).map(|(i, _)| 1 << i).sum();
        Cells { doubled_columns, ..Cells::default() }
    }

    /// Splits a record (without its line end) into cells. Fails if the record is not UTF-8
    /// text (the error's place is in the record); the cells are then empty.
    pub fn split(&mut self, record: &[u8]) -> Result<(), std::str::Utf8Error> {
        // The record as written, not its cells run together: taking the quotes out could
        // join the two halves of a character that a closing quote and a comma cut apart.
        if let Err(error) = std::str::from_utf8(record) {
            self.text.clear();
            self.ends.clear();
            self.doubled = 0;
            return Err(error);
        }
        // Room for the record and the eight bytes the last copy may write past its end.
        let mut bytes = std::mem::take(&mut self.text).into_bytes();
        bytes.clear();
        bytes.resize(record.len() + 8, 0);
        self.ends.clear();
        self.doubled = 0;
        let (mut at, mut written) = (0, 0);
        loop {
            if record.get(at) == Some(&b'"') {
                at += 1;
                let column = self.ends.len();
                if column < 64
                    && self.doubled_columns & (1 << column) != 0
                    && let Some(close) = doubled_end(record, at)
                {
                    let (text, to) = (&record[at..close], written + close - at);
                    if let Some(out) = bytes.get_mut(written..to) {
                        out.copy_from_slice(text);
                    }
                    written = to;
                    self.ends.push(written);
                    self.doubled |= 1 << column;
                    // The closing quote is followed by a comma or the end of the record.
                    if close + 1 >= record.len() {
                        break;
                    }
                    at = close + 2;
                    continue;
                }
                // Byte by byte, with no branch on each quote (JSON in a cell has one every few
                // bytes, and a branch on each is mispredicted often): a quote is kept when it
                // follows a quote not kept (a doubled one), and the quotes close at the first
                // other byte after a lone quote. Quotes never closed run to the record's end.
                let mut after_quote = false;
                while let Some(&byte) = record.get(at) {
                    if after_quote & (byte != b'"') {
                        break;
                    }
                    let quote = byte == b'"';
                    if let Some(to) = bytes.get_mut(written) {
                        *to = byte;
                    }
                    written += usize::from(!quote | after_quote);
                    after_quote = quote & !after_quote;
                    at += 1;
                }
            }
            // The field up to the next comma (after a closing quote, the rest of the field).
            let (comma, copied) = copy_until(record, at, &mut bytes, written, b',');
            written = copied;
            self.ends.push(written);
            match comma {
                Some(comma) => at = comma + 1,
                None => break,
            }
        }
        bytes.truncate(written);
        // The record is text, and cells are cut from it at commas and quotes, so this holds;
        // the conversion checks it all the same.
        match String::from_utf8(bytes) {
            Ok(text) => {
                self.text = text;
                Ok(())
            }
            Err(e) => {
                let error = e.utf8_error();
                let mut bytes = e.into_bytes();
                bytes.clear();
                self.text = String::from_utf8(bytes).unwrap_or_default();
                self.ends.clear();
                self.doubled = 0;
                Err(error)
            }
        }
    }

    /// How many cells the record has.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The text of cell `index`.
    #[inline]
    pub fn get(&self, index: usize) -> Option<CellText<'_>> {
        let end = *self.ends.get(index)?;
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        // Cells end where the record had a comma or a quote, so never inside a character.
        let text = self.text.get(start..end)?;
        let doubled = index < 64 && self.doubled & (1 << index) != 0;
        Some(if doubled { CellText::Doubled(text) } else { CellText::Plain(text) })
    }

    /// The cells' text in order, unquoted.
    pub fn iter(&self) -> impl Iterator<Item = std::borrow::Cow<'_, str>> {
        (0..self.len()).map(|i| self.get(i).map(CellText::unquoted).unwrap_or_default())
    }
}

/// Where the quotes opened before `from` close, when everything up to there is text and
/// doubled quotes, and the closing quote ends the record or is followed by a comma: the cell
/// is then `record[from..close]` as written. `None` for anything else (text after the closing
/// quote, quotes never closed), which the byte-by-byte reading reads.
///
/// Eight bytes at a time and without a branch on each quote: the quotes counted up to each
/// byte (a product of the quote bytes with `ONES` adds them up byte by byte, never more than
/// eight) say, by their parity, whether the byte is inside the quotes. The first byte that
/// is outside them and is not a quote follows the closing quote; a doubled quote closes and
/// opens them again, so between the two no other byte is outside.
#[inline]
fn doubled_end(record: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    // 1 while the bytes before `at` leave the quotes open.
    let mut open = 1u64;
    loop {
        let chunk: [u8; 8] = match record.get(at..at + 8) {
            Some(chunk) => chunk.try_into().ok()?,
            None => {
                // The record's end, as a comma would be: outside the quotes if they closed.
                let rest = record.get(at..)?;
                let mut chunk = [b','; 8];
                chunk[..rest.len()].copy_from_slice(rest);
                chunk
            }
        };
        let quotes = equal_bytes(u64::from_le_bytes(chunk), b'"');
        let inside = (quotes.wrapping_mul(ONES) ^ open.wrapping_mul(ONES)) & ONES;
        let outside_text = !(inside | quotes) & ONES;
        if outside_text != 0 {
            let after = at + (outside_text.trailing_zeros() / 8) as usize;
            return match record.get(after) {
                None | Some(b',') => Some(after - 1),
                Some(_) => None,
            };
        }
        open = inside >> 56;
        at += 8;
    }
}

/// `0x01` in each byte of `word` equal to `byte`, `0` in the others (exactly: no borrows).
#[inline(always)]
fn equal_bytes(word: u64, byte: u8) -> u64 {
    const LOWS: u64 = u64::from_le_bytes([0x7f; 8]);
    let matched = word ^ (ONES * u64::from(byte));
    // A byte's high bit is set here if any of its bits is, so clear only where it is zero.
    !(((matched & LOWS).wrapping_add(LOWS)) | matched | LOWS) >> 7
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The records of `file`, fed to a buffer of `block` bytes at most `step` bytes at a time,
    /// as the reading thread feeds it.
    fn records_fed(file: &[u8], block: usize, step: usize) -> Vec<Vec<u8>> {
        let mut buffer = RecordBuffer::new(block);
        let (mut records, mut at) = (Vec::new(), 0);
        loop {
            match buffer.next_record() {
                Next::Record(range) => records.push(buffer.record(range).to_vec()),
                Next::End => return records,
                Next::More => {
                    let space = buffer.space();
                    let read = space.len().min(step).min(file.len() - at);
                    space[..read].copy_from_slice(&file[at..at + read]);
                    at += read;
                    buffer.add(read);
                }
            }
        }
    }

    /// The records and cells of a whole file, read as `covenant batch` reads it (`doubled`:
    /// with every column's quoted cells kept as written where they can be, then unquoted).
    fn read_all(file: &[u8], doubled: bool) -> Result<Vec<Vec<String>>, ()> {
        let mut cells = Cells::keep_doubled(&[doubled; 64]);
        records_fed(file, 64, usize::MAX)
            .iter()
            .map(|record| {
                cells.split(record).map_err(|_| ())?;
                Ok(cells.iter().map(|cell| cell.to_string()).collect())
            })
            .collect()
    }

    /// The same file read by the `csv` crate, as `covenant batch` once read it.
    fn read_with_csv_crate(file: &[u8]) -> Result<Vec<Vec<String>>, ()> {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(file);
        let mut records = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|_| ())?;
            records.push(record.iter().map(str::to_string).collect());
        }
        Ok(records)
    }

    /// `per_length` texts of every length below 40 made of `alphabet`'s bytes, drawn from a
    /// fixed seed.
    fn random_texts(alphabet: &[u8], mut seed: u32, per_length: usize) -> Vec<Vec<u8>> {
        let mut draw = move || {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            alphabet[(seed >> 16) as usize % alphabet.len()]
        };
        (0..40)
            .flat_map(|length| std::iter::repeat_n(length, per_length))
            .map(|length| (0..length).map(|_| draw()).collect())
            .collect()
    }

    /// `find` gives what a search byte by byte gives, at every start, for bytes around each
    /// needle (a zero byte, bytes with the high bit set, the needle's neighbours).
    #[test]
    fn finding_eight_bytes_at_once_agrees_with_a_plain_search() {
        let alphabet = [0u8, 1, b'!', b'"', b'#', b',', b'\n', b'\r', 0x7f, 0x80, 0xa2, 0xff];
        for bytes in random_texts(&alphabet, 7, 20) {
            for from in 0..=bytes.len() {
                let plain = |needles: &[u8]| bytes[from..].iter().position(|b| needles.contains(b)).map(|i| from + i);
                assert_eq!(find(&bytes, from, [b'"']), plain(b"\""), "{bytes:?} from {from}");
                assert_eq!(find(&bytes, from, [b'"', b'\n', b'\r']), plain(b"\"\n\r"), "{bytes:?} from {from}");
            }
        }
    }

    #[test]
    fn quoted_cells_with_commas_quotes_and_line_ends() {
        let file = b"a,\"b,c\",\"say \"\"hi\"\"\"\r\n\r\n\"two\nlines\",x\"y,\"z\"w\n\"open";
        let records = read_all(file, false).expect("utf-8");
        assert_eq!(read_all(file, true), Ok(records.clone()));
        assert_eq!(
            records,
            vec![
                vec!["a".to_string(), "b,c".into(), "say \"hi\"".into()],
                vec!["two\nlines".into(), "x\"y".into(), "zw".into()],
                vec!["open".into()],
            ]
        );
        assert_eq!(records, read_with_csv_crate(file).expect("csv"));
    }

    /// Quoted cells of the columns that keep them are kept as written when they are quoted
    /// from end to end; others, and other columns' cells, are unquoted.
    #[test]
    fn quoted_cells_are_kept_as_written_only_where_asked_and_whole() {
        let mut cells = Cells::keep_doubled(&[true, true, false, true, true]);
        cells.split(b"\"[{\"\"a\"\":1}]\",\"x\"y,\"[\"\"b\"\"]\",\"\",\"open").expect("utf-8");
        let got: Vec<CellText<'_>> = (0..cells.len()).filter_map(|i| cells.get(i)).collect();
        assert_eq!(
            got,
            [
                CellText::Doubled("[{\"\"a\"\":1}]"),
                CellText::Plain("xy"),
                CellText::Plain("[\"b\"]"),
                CellText::Doubled(""),
                CellText::Plain("open"),
            ]
        );
        assert_eq!(cells.iter().collect::<Vec<_>>(), ["[{\"a\":1}]", "xy", "[\"b\"]", "", "open"]);
    }

    /// Where `doubled_end` finds quotes closing is where reading byte by byte finds them, for
    /// every start in text around eight-byte words: quotes that close before a comma or the
    /// end, with only doubled quotes before, and nowhere otherwise.
    #[test]
    fn quotes_closing_are_found_eight_bytes_at_once_as_byte_by_byte() {
        fn byte_by_byte(record: &[u8], from: usize) -> Option<usize> {
            let mut at = from;
            loop {
                match record.get(at)? {
                    b'"' if record.get(at + 1) == Some(&b'"') => at += 2,
                    b'"' => return matches!(record.get(at + 1), None | Some(b',')).then_some(at),
                    _ => at += 1,
                }
            }
        }
        let alphabet = [b'"', b'"', b'"', b',', b'a', b'\n', 0xc3, 0xa9];
        for record in random_texts(&alphabet, 11, 50) {
            for from in 0..=record.len() {
                assert_eq!(doubled_end(&record, from), byte_by_byte(&record, from), "{record:?} from {from}");
            }
        }
    }

    #[test]
    fn a_byte_order_mark_starts_no_cell_and_bad_text_is_an_error() {
        assert_eq!(read_all(b"\xef\xbb\xbfa,b\n", false).expect("utf-8"), vec![vec!["a".to_string(), "b".into()]]);
        let mut cells = Cells::default();
        assert!(cells.split(b"a,\xff").is_err());
        assert!(cells.is_empty(), "no cells are left from a record that is not text");
        cells.split(b"c").expect("utf-8");
        assert_eq!(cells.iter().collect::<Vec<_>>(), ["c"]);
        // A character cut in two by a closing quote and a comma is not text either, although
        // its halves meet again once the quotes are taken out; the place given is in the row.
        let error = cells.split(b"\"a\xc3\",\xa9").expect_err("not text");
        assert_eq!(error.valid_up_to(), 2);
        assert!(read_with_csv_crate(b"\"a\xc3\",\xa9\n").is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any file made of the bytes that matter to CSV (and a multi-byte letter) reads to
        /// the records and cells the `csv` crate reads.
        #[test]
        fn cells_are_those_the_csv_crate_reads(
            parts in proptest::collection::vec(
                prop_oneof![Just("a"), Just("bc"), Just(","), Just("\""), Just("\"\""), Just("\n"), Just("\r"), Just("\r\n"), Just("é"), Just(" ")],
                0..40,
            ),
            bom in any::<bool>(),
        ) {
            let mut file = if bom { BYTE_ORDER_MARK.to_vec() } else { Vec::new() };
            file.extend(parts.concat().into_bytes());
            prop_assert_eq!(read_all(&file, false), read_with_csv_crate(&file));
            prop_assert_eq!(read_all(&file, true), read_with_csv_crate(&file));
        }

        /// Cells written with `push_field` are the text the `csv` crate writes, and read back
        /// as they were.
        #[test]
        fn cells_are_written_as_the_csv_crate_writes_them(
            cells in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![Just("a"), Just("7.50"), Just(","), Just("\""), Just("\n"), Just("\r"), Just("é"), Just(" "), Just("{\"k\":[1]}")],
                    0..6,
                ),
                2..5,
            ),
        ) {
            let cells: Vec<String> = cells.iter().map(|parts| parts.concat()).collect();
            let mut line = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    line.push(',');
                }
                push_field(&mut line, cell);
            }
            line.push('\n');
            let mut writer = csv::Writer::from_writer(Vec::new());
            writer.write_record(&cells).expect("write");
            let written = writer.into_inner().expect("flush");
            prop_assert_eq!(line.as_bytes(), &written[..]);
            prop_assert_eq!(read_all(line.as_bytes(), false), Ok(vec![cells.clone()]));
            prop_assert_eq!(read_all(line.as_bytes(), true), Ok(vec![cells]));
        }

        /// The records are the same whether the file arrives whole or a few bytes at a time,
        /// into a buffer smaller than its records.
        #[test]
        fn records_do_not_depend_on_how_the_file_arrives(
            parts in proptest::collection::vec(
                prop_oneof![Just("a"), Just(","), Just("\""), Just("\"\""), Just("\n"), Just("\r\n"), Just("\r")],
                0..40,
            ),
            bom in any::<bool>(),
            block in 1usize..8,
            step in 1usize..8,
        ) {
            let mut file = if bom { BYTE_ORDER_MARK.to_vec() } else { Vec::new() };
            file.extend(parts.concat().into_bytes());
            prop_assert_eq!(records_fed(&file, block, step), records_fed(&file, 1024, usize::MAX));
        }
    }
}
