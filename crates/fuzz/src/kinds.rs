//! Outcome kinds: error messages reduced to their shape, so that the corpus keeps one input per
//! kind of behaviour rather than one per number or name in a message.

/// An error message with the parts that vary by input blanked: numbers (decimal or hex), and
/// whatever is quoted or bracketed (names, shapes, values, debug output), nesting included;
/// only printable ASCII is kept.
pub fn normalize(msg: &str) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut in_number = false;
    for c in msg.chars() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
                if depth == 0 {
                    out.push(c);
                }
            }
            continue;
        }
        match c {
            '\'' | '"' | '`' => {
                quote = Some(c);
                if depth == 0 {
                    out.push(c);
                }
                continue;
            }
            // What follows a brace is debug output of a value: noise for a kind.
            '{' => {
                if depth == 0 {
                    out.push_str("{}");
                }
                break;
            }
            '[' | '(' => {
                if depth == 0 {
                    out.push(c);
                }
                depth += 1;
                continue;
            }
            ']' | ')' => {
                if depth == 1 {
                    out.push(c);
                }
                depth = depth.saturating_sub(1);
                continue;
            }
            _ if depth > 0 => continue,
            _ => {}
        }
        if in_number && c.is_ascii_alphanumeric() {
            continue;
        }
        in_number = c.is_ascii_digit();
        if in_number {
            out.push('#');
        } else if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        }
        if out.len() >= 120 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_blanks_numbers_and_names() {
        assert_eq!(normalize("magic 0xF993FAC9, shape [3, 2] in \"x\""), "magic #, shape [] in \"\"");
        assert_eq!(normalize("ChunkType { type: \\u{1}x, ok: [1] } before é IHDR"), "ChunkType {}");
        assert_eq!(
            normalize("at byte 123 (array 4): operator 'Foo' is not registered"),
            "at byte # (): operator '' is not registered"
        );
    }
}
