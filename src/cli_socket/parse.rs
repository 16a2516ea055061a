//! Splitting a CLI request line into commands and words, as HAProxy 2.6 does:
//! blanks (space, tab, CR) separate words, `;` separates commands, a backslash makes
//! the next character literal (`\;`, `\ `). Quotes have no meaning.

/// The commands of one line, each as its words. An empty command (an empty line, or
/// `;;`) is kept: HAProxy answers it with the full usage text.
pub fn split_line(line: &[u8]) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word: Vec<u8> = Vec::new();
    let mut in_word = false;
    let mut bytes = line.iter().copied();
    let end_word = |words: &mut Vec<String>, word: &mut Vec<u8>, in_word: &mut bool| {
        if *in_word {
            words.push(String::from_utf8_lossy(word).into_owned());
            word.clear();
            *in_word = false;
        }
    };
    while let Some(b) = bytes.next() {
        match b {
            b'\\' => {
                if let Some(next) = bytes.next() {
                    word.push(next);
                }
                in_word = true;
            }
            b';' => {
                end_word(&mut words, &mut word, &mut in_word);
                commands.push(std::mem::take(&mut words));
            }
            b' ' | b'\t' | b'\r' => end_word(&mut words, &mut word, &mut in_word),
            _ => {
                word.push(b);
                in_word = true;
            }
        }
    }
    end_word(&mut words, &mut word, &mut in_word);
    commands.push(words);
    commands
}

pub use crate::config::parse::atoi;

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Vec<String>> {
        split_line(line.as_bytes())
    }

    #[test]
    fn blanks_and_semicolons() {
        assert_eq!(words("  show   cli\tlevel \r"), vec![vec!["show", "cli", "level"]]);
        assert_eq!(words("show info;show stat"), vec![vec!["show", "info"], vec!["show", "stat"]]);
        assert_eq!(words("a;;b"), vec![vec!["a"], vec![], vec!["b"]]);
        assert_eq!(words("a;"), vec![vec!["a"], vec![]]);
        assert_eq!(words(""), vec![Vec::<String>::new()]);
    }

    #[test]
    fn backslash_escapes_and_quotes_are_plain() {
        assert_eq!(words(r"set map m a\;b c\ d"), vec![vec!["set", "map", "m", "a;b", "c d"]]);
        assert_eq!(words("show \"env\""), vec![vec!["show", "\"env\""]]);
    }

    #[test]
    fn atoi_like_c() {
        assert_eq!(atoi("42"), 42);
        assert_eq!(atoi("12abc"), 12);
        assert_eq!(atoi("x"), 0);
        assert_eq!(atoi("-5"), -5);
    }
}
