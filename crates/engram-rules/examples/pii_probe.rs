//! What the detectors find in each line of stdin, to look at one case:
//!
//!   echo "sou lucas, mãe do kaua" | cargo run --release -p engram-rules --example pii_probe
use std::io::BufRead;

fn main() {
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let found: Vec<String> = engram_rules::pii::detect(&line)
            .iter()
            .map(|f| {
                let value = &line[f.start..f.end];
                format!("{}={value:?}@{:.2}", f.kind.as_str(), f.confidence)
            })
            .collect();
        println!("{line}\n   -> {}", found.join(", "));
    }
}
