//! Go's `text/tabwriter` (docker/cli's fork, which measures cells in terminal columns), with the
//! settings docker's tables use: tab-terminated cells in contiguous lines form a column, each column
//! padded with spaces to its widest cell plus `padding`, and at least `minwidth` wide.

/// Aligns the tab-terminated cells of `text` (lines end with `\n`).
pub fn align(text: &str, minwidth: usize, padding: usize) -> String {
    let lines: Vec<Vec<&str>> = text.split('\n').map(|l| l.split('\t').collect()).collect();
    let table = Table {
        lines,
        minwidth,
        padding,
    };
    let mut out = String::with_capacity(text.len() * 2);
    table.format(&mut out, &mut Vec::new(), 0, table.lines.len());
    out
}

struct Table<'a> {
    /// Cells per line; the last cell of a line is not tab-terminated and belongs to no column.
    lines: Vec<Vec<&'a str>>,
    minwidth: usize,
    padding: usize,
}

impl Table<'_> {
    fn has_cell(&self, line: usize, column: usize) -> bool {
        column + 1 < self.lines[line].len()
    }

    /// Formats lines `line0..line1`, whose columns left of `widths.len()` have the given widths
    /// (the elastic tabstops recursion of Go's `Writer.format`).
    fn format(&self, out: &mut String, widths: &mut Vec<usize>, mut line0: usize, line1: usize) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if !self.has_cell(this, column) {
                this += 1;
                continue;
            }
            self.write_lines(out, widths, line0, this);
            line0 = this;
            let mut width = self.minwidth;
            while this < line1 && self.has_cell(this, column) {
                width = width.max(display_width(self.lines[this][column]) + self.padding);
                this += 1;
            }
            widths.push(width);
            self.format(out, widths, line0, this);
            widths.pop();
            line0 = this;
        }
        self.write_lines(out, widths, line0, line1);
    }

    fn write_lines(&self, out: &mut String, widths: &[usize], line0: usize, line1: usize) {
        for i in line0..line1 {
            for (j, cell) in self.lines[i].iter().enumerate() {
                out.push_str(cell);
                if let Some(w) = widths.get(j) {
                    let pad = w.saturating_sub(display_width(cell));
                    out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            if i + 1 < self.lines.len() {
                out.push('\n');
            }
        }
    }
}

/// Terminal columns of `s` as go-runewidth counts them: East Asian wide and fullwidth characters
/// take two, combining marks and zero-width characters none, everything else one.
pub fn display_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

fn char_width(c: char) -> usize {
    let u = c as u32;
    let zero = matches!(u,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x0610..=0x061A | 0x064B..=0x065F
        | 0x200B..=0x200F | 0x20D0..=0x20FF | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F | 0xFEFF);
    if zero {
        return 0;
    }
    if is_wide(c) { 2 } else { 1 }
}

/// East Asian wide or fullwidth.
pub fn is_wide(c: char) -> bool {
    let u = c as u32;
    matches!(u,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6 | 0x1F300..=0x1F64F | 0x1F900..=0x1F9FF | 0x20000..=0x3FFFD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_columns_to_widest_cell_plus_padding() {
        let got = align("NAME\tIMAGE\tX\nlong-name-1\tbb\ty\n", 10, 3);
        assert_eq!(
            got,
            "NAME          IMAGE     X\nlong-name-1   bb        y\n"
        );
    }

    #[test]
    fn empty_trailing_cell_still_pads_the_column_before_it() {
        let got = align("A\tB\naaaa\t\n", 1, 3);
        assert_eq!(got, "A      B\naaaa   \n");
    }

    #[test]
    fn a_line_without_tabs_breaks_the_column_block() {
        let got = align("a\tb\nno tabs here\nccc\td\n", 1, 1);
        assert_eq!(got, "a b\nno tabs here\nccc d\n");
    }

    #[test]
    fn counts_columns_not_bytes() {
        let got = align("\"abc…\"\tx\nCOMMAND\ty\n", 1, 3);
        assert_eq!(got, "\"abc…\"    x\nCOMMAND   y\n");
        assert_eq!(display_width("日本"), 4);
    }
}
