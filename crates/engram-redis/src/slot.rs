//! Encoding of a fenced slot: `V:<rev>:<json>` or `F:<rev>`.

use engram_domain::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub(crate) fn value<T: Serialize>(rev: u64, value: &T) -> Result<String> {
    let json =
        serde_json::to_string(value).map_err(|e| Error::Internal(format!("encoding: {e}")))?;
    Ok(format!("V:{rev}:{json}"))
}

/// The value of a slot, if it holds one (a fence or nothing reads as None).
pub(crate) fn decode<T: DeserializeOwned>(raw: Option<String>) -> Result<Option<(u64, T)>> {
    let Some(raw) = raw else { return Ok(None) };
    let Some(rest) = raw.strip_prefix("V:") else {
        return Ok(None);
    };
    let (rev, json) = rest
        .split_once(':')
        .ok_or_else(|| Error::Internal("corrupt hot-tier slot".into()))?;
    let rev = rev
        .parse()
        .map_err(|_| Error::Internal("corrupt hot-tier slot revision".into()))?;
    let value = serde_json::from_str(json)
        .map_err(|e| Error::Internal(format!("corrupt hot-tier slot: {e}")))?;
    Ok(Some((rev, value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let raw = value(7, &vec!["a:b", "c"]).unwrap();
        assert_eq!(raw, r#"V:7:["a:b","c"]"#);
        assert_eq!(
            decode::<Vec<String>>(Some(raw)).unwrap(),
            Some((7, vec!["a:b".into(), "c".into()]))
        );
        assert_eq!(decode::<Vec<String>>(Some("F:9".into())).unwrap(), None);
        assert_eq!(decode::<Vec<String>>(None).unwrap(), None);
        assert!(decode::<Vec<String>>(Some("V:x:[]".into())).is_err());
    }
}
