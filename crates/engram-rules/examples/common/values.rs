//! What the PII benchmarks share: a deterministic generator, documents
//! with their check digits (computed here, independently of the
//! detectors, so that a shared bug cannot hide), and the tally of
//! precision and recall.

#![allow(dead_code)]

/// xorshift64*: deterministic, no dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn digit(&mut self) -> u32 {
        self.below(10) as u32
    }
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

// ---------------------------------------------------------------------------
// Documents with their check digits (computed here, independently).

pub fn mod11(values: &[u32], weights: impl Iterator<Item = u32>) -> u32 {
    let r = values.iter().zip(weights).map(|(v, w)| v * w).sum::<u32>() % 11;
    if r < 2 { 0 } else { 11 - r }
}

pub fn cpf_digits(rng: &mut Rng) -> Vec<u32> {
    loop {
        let mut d: Vec<u32> = (0..9).map(|_| rng.digit()).collect();
        if d.iter().all(|x| *x == d[0]) {
            continue;
        }
        d.push(mod11(&d, (2..=10).rev()));
        d.push(mod11(&d, (2..=11).rev()));
        return d;
    }
}

pub fn cnpj_chars(rng: &mut Rng, alphanumeric: bool) -> Vec<u8> {
    const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut c: Vec<u8> = (0..12)
        .map(|i| {
            if alphanumeric && i < 8 {
                ALNUM[rng.below(ALNUM.len())]
            } else {
                b'0' + rng.digit() as u8
            }
        })
        .collect();
    let w1 = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    let w2 = [6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2];
    let values = |c: &[u8]| c.iter().map(|b| u32::from(*b) - 48).collect::<Vec<_>>();
    let d1 = mod11(&values(&c), w1.into_iter());
    c.push(b'0' + d1 as u8);
    let d2 = mod11(&values(&c), w2.into_iter());
    c.push(b'0' + d2 as u8);
    c
}

pub fn cns_digits(rng: &mut Rng) -> Vec<u32> {
    loop {
        let mut d = vec![[1, 2, 7, 8, 9][rng.below(5)]];
        d.extend((0..13).map(|_| rng.digit()));
        let sum: u32 = d.iter().enumerate().map(|(i, v)| v * (15 - i as u32)).sum();
        let last = (11 - sum % 11) % 11;
        if last < 10 {
            d.push(last);
            return d;
        }
    }
}

pub fn luhn_ok(d: &[u32]) -> bool {
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 1 {
                let y = x * 2;
                if y > 9 { y - 9 } else { y }
            } else {
                x
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

pub fn card_digits(rng: &mut Rng, valid: bool) -> Vec<u32> {
    // Visa (4) or Mastercard (51-55), 16 digits.
    let mut d = if rng.chance(50) {
        vec![4]
    } else {
        vec![5, 1 + rng.below(5) as u32]
    };
    while d.len() < 15 {
        d.push(rng.digit());
    }
    let check = (0..10).find(|c| {
        let mut t = d.clone();
        t.push(*c);
        luhn_ok(&t)
    });
    let c = check.unwrap_or(0);
    d.push(if valid {
        c
    } else {
        (c + 1 + rng.below(9) as u32) % 10
    });
    d
}

/// A North American area code a person's number can have: 200–999, not
/// a toll-free one (800, 833, 844, 855, 866, 877, 888: companies').
pub fn nanp_area(rng: &mut Rng) -> u32 {
    loop {
        let area = 200 + rng.below(800) as u32;
        let (a, b, c) = (area / 100, area / 10 % 10, area % 10);
        let toll_free = a == 8 && ((b, c) == (0, 0) || (b == c && b >= 3));
        if !toll_free {
            return area;
        }
    }
}

pub fn text(d: &[u32]) -> String {
    d.iter()
        .map(|x| char::from_digit(*x, 10).unwrap())
        .collect()
}

/// Changes one check digit so the number is invalid.
pub fn corrupt(mut d: Vec<u32>, rng: &mut Rng) -> Vec<u32> {
    let i = d.len() - 1 - rng.below(2);
    d[i] = (d[i] + 1 + rng.below(9) as u32) % 10;
    d
}

pub fn cpf_formatted(d: &[u32]) -> String {
    let t = text(d);
    format!("{}.{}.{}-{}", &t[..3], &t[3..6], &t[6..9], &t[9..])
}

pub fn cnpj_formatted(c: &[u8]) -> String {
    let t = String::from_utf8(c.to_vec()).unwrap();
    format!(
        "{}.{}.{}/{}-{}",
        &t[..2],
        &t[2..5],
        &t[5..8],
        &t[8..12],
        &t[12..]
    )
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
}

impl Counts {
    pub fn precision(self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    pub fn recall(self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    pub fn f1(self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

pub fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}
