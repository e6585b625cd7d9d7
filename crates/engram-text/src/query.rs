//! Query analysis: what an input says beyond its terms. The calendar
//! dates it names ("on 13 March 2023", "March 13, 2023", "em março de
//! 2023", "2023-03-13", "13/03/2023"), which recall searches within as
//! well, since every message carries its time; and how much of it the
//! history says in its own words.

use std::collections::HashSet;

use engram_domain::time::Timestamp;

use crate::{terms, words};

/// A stretch of time an input names: `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub from: Timestamp,
    pub until: Timestamp,
}

/// Most spans an input yields.
const MAX_SPANS: usize = 3;
/// A named day is searched a day either side: a conversation's time zone
/// is not known.
const DAY_SLACK: i64 = 1;

const MONTHS: [&[&str]; 12] = [
    &["january", "jan", "janeiro", "jan"],
    &["february", "feb", "fevereiro", "fev"],
    &["march", "marco"],
    &["april", "apr", "abril", "abr"],
    &["may", "maio", "mai"],
    &["june", "jun", "junho"],
    &["july", "jul", "julho"],
    &["august", "aug", "agosto", "ago"],
    &["september", "sep", "sept", "setembro", "set"],
    &["october", "oct", "outubro", "out"],
    &["november", "nov", "novembro"],
    &["december", "dec", "dezembro", "dez"],
];

fn month(word: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|names| names.contains(&word))
        .map(|i| i as u32 + 1)
}

/// A day of the month, with or without an English ordinal suffix.
fn day(word: &str) -> Option<u32> {
    let digits = word
        .strip_suffix("st")
        .or_else(|| word.strip_suffix("nd"))
        .or_else(|| word.strip_suffix("rd"))
        .or_else(|| word.strip_suffix("th"))
        .unwrap_or(word);
    let d: u32 = digits.parse().ok()?;
    (digits.len() <= 2 && (1..=31).contains(&d)).then_some(d)
}

fn year(word: &str) -> Option<i64> {
    let y: i64 = word.parse().ok()?;
    (word.len() == 4 && (1900..=2200).contains(&y)).then_some(y)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn at_day(days: i64) -> Timestamp {
    Timestamp(days * 86_400_000_000)
}

fn day_span(y: i64, m: u32, d: u32) -> Span {
    let days = days_from_civil(y, m, d);
    Span {
        from: at_day(days - DAY_SLACK),
        until: at_day(days + 1 + DAY_SLACK),
    }
}

fn month_span(y: i64, m: u32) -> Span {
    let (next_y, next_m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    Span {
        from: at_day(days_from_civil(y, m, 1)),
        until: at_day(days_from_civil(next_y, next_m, 1)),
    }
}

/// The dates `input` names, in order, at most three: a day (searched a
/// day either side) or a month of a year. A month without a year, or a
/// day without one, names nothing: the question could mean any year.
pub fn dates(input: &str) -> Vec<Span> {
    let w: Vec<String> = words(input).collect();
    let get = |i: usize| w.get(i).map(String::as_str);
    let mut spans = Vec::new();
    let mut i = 0;
    while i < w.len() && spans.len() < MAX_SPANS {
        let here = w[i].as_str();
        // 2023-03-13 and 13/03/2023 arrive as three numbers in a row.
        if let (Some(a), Some(b), Some(c)) = (get(i), get(i + 1), get(i + 2)) {
            let num = |s: &str| s.parse::<u32>().ok();
            if let (Some(y), Some(m), Some(d)) = (year(a), num(b), num(c))
                && (1..=12).contains(&m)
                && (1..=31).contains(&d)
            {
                spans.push(day_span(y, m, d));
                i += 3;
                continue;
            }
            if let (Some(d), Some(m), Some(y)) = (num(a), num(b), year(c))
                && a.len() <= 2
                && b.len() <= 2
            {
                // Day first, as Brazil writes it, unless that cannot be.
                let (d, m) = if m > 12 && d <= 12 { (m, d) } else { (d, m) };
                if (1..=12).contains(&m) && (1..=31).contains(&d) {
                    spans.push(day_span(y, m, d));
                    i += 3;
                    continue;
                }
            }
        }
        // 13 March 2023, 13 de março de 2023.
        if let Some(d) = day(here) {
            let mut j = i + 1;
            if get(j) == Some("de") || get(j) == Some("of") {
                j += 1;
            }
            if let Some(m) = get(j).and_then(month) {
                let mut k = j + 1;
                if get(k) == Some("de") {
                    k += 1;
                }
                if let Some(y) = get(k).and_then(year) {
                    spans.push(day_span(y, m, d));
                    i = k + 1;
                    continue;
                }
            }
        }
        if let Some(m) = month(here) {
            // March 13, 2023 / March 13th 2023.
            if let (Some(d), Some(y)) = (get(i + 1).and_then(day), get(i + 2).and_then(year)) {
                spans.push(day_span(y, m, d));
                i += 3;
                continue;
            }
            // March 2023, março de 2023.
            let k = if get(i + 1) == Some("de") {
                i + 2
            } else {
                i + 1
            };
            if let Some(y) = get(k).and_then(year) {
                spans.push(month_span(y, m));
                i = k + 1;
                continue;
            }
        }
        i += 1;
    }
    spans
}

/// Share of the input's search terms that `texts` carry: 1 when every
/// term of the input is in one of them, 0 when none is, and when the input
/// has no search term at all (nothing of it can be found).
pub fn terms_found<'a>(input: &str, texts: impl IntoIterator<Item = &'a str>) -> f64 {
    let wanted: HashSet<String> = terms(input).into_iter().collect();
    if wanted.is_empty() {
        return 0.0;
    }
    let mut found = HashSet::new();
    for text in texts {
        // Every term found already: the later texts cannot add one.
        if found.len() == wanted.len() {
            break;
        }
        found.extend(terms(text).into_iter().filter(|t| wanted.contains(t)));
    }
    found.len() as f64 / wanted.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_found_counts_each_term_of_the_input_once() {
        let input = "When did Melanie paint a sunrise?";
        // melanie, paint, sunrise: the hits carry two of three, in other forms.
        let hits = [
            "Melanie: I painted that lake sunset",
            "Melanie: painting relaxes me",
        ];
        assert!((terms_found(input, hits) - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(
            terms_found(input, ["We painted sunrises, said Melanie"]),
            1.0
        );
        assert_eq!(
            terms_found("Ela já passou por alguma operação?", ["fiz uma cirurgia"]),
            0.0
        );
        assert_eq!(terms_found(input, []), 0.0);
        // An input of stop words only has nothing to find.
        assert_eq!(terms_found("what is it?", ["what is it"]), 0.0);
    }

    fn day_of(s: &Span) -> String {
        Timestamp(s.from.0 + DAY_SLACK * 86_400_000_000).to_minute_string()[..10].to_owned()
    }

    #[test]
    fn days_in_every_written_form() {
        for input in [
            "What painting did Melanie show to Caroline on October 13, 2023?",
            "What did she find on 13 October, 2023?",
            "mentioned on 13th October 2023",
            "O que ela disse em 13 de outubro de 2023?",
            "no dia 13/10/2023",
            "on 2023-10-13",
            "on 10/13/2023",
        ] {
            let spans = dates(input);
            assert_eq!(spans.len(), 1, "{input}");
            assert_eq!(day_of(&spans[0]), "2023-10-13", "{input}");
            let width = spans[0].until.0 - spans[0].from.0;
            assert_eq!(width, 3 * 86_400_000_000, "{input}");
        }
    }

    #[test]
    fn months_of_a_year() {
        let spans = dates("What setback did Melanie face in October 2023?");
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].from.to_minute_string(), "2023-10-01 00:00");
        assert_eq!(spans[0].until.to_minute_string(), "2023-11-01 00:00");
        let spans = dates("the last two weeks of December 2023 and em janeiro de 2024");
        assert_eq!(spans.len(), 2);
        assert_eq!(spans[0].until.to_minute_string(), "2024-01-01 00:00");
        assert_eq!(spans[1].from.to_minute_string(), "2024-01-01 00:00");
    }

    #[test]
    fn no_year_no_date() {
        for input in [
            "When did Melanie go camping in June?",
            "I may come on the 13th",
            "marque para 13 de março",
            "my CPF is 123.456.789-09",
            "room 12 at 10 30",
            "It costs 2023 reais",
            "",
        ] {
            assert!(dates(input).is_empty(), "{input}");
        }
    }
}
