//! Reading facts back out of crit's JSON for the images of a dump: the
//! pstree, the vmas of mm images, regular files and their offsets.

use std::collections::BTreeMap;

use serde_json::Value;

/// crit's JSON of every image, by file name (from [`crate::crit_decode_dir`]).
pub type Decoded = BTreeMap<String, Value>;

/// A number crit printed either as a JSON number or as a `0x...` string
/// (fields CRIU marks as hex).
pub fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Number(number) => number.as_u64(),
        Value::String(text) => match text.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => text.parse().ok(),
        },
        _ => None,
    }
}

/// Every value held under `key`, at any depth.
pub fn values_of<'a>(value: &'a Value, key: &str) -> Vec<&'a Value> {
    let mut found = Vec::new();
    collect(value, key, &mut found);
    found
}

fn collect<'a>(value: &'a Value, key: &str, found: &mut Vec<&'a Value>) {
    match value {
        Value::Object(members) => {
            for (name, member) in members {
                if name == key {
                    found.push(member);
                }
                collect(member, key, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect(item, key, found)),
        _ => {}
    }
}

/// The pstree entries: (pid, thread ids) of each process.
pub fn pstree(decoded: &Decoded) -> Vec<(u64, Vec<u64>)> {
    let Some(entries) = decoded
        .get("pstree.img")
        .and_then(|img| img["entries"].as_array())
    else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let pid = number(&entry["pid"])?;
            let threads = entry["threads"]
                .as_array()?
                .iter()
                .filter_map(number)
                .collect();
            Some((pid, threads))
        })
        .collect()
}

/// The (start, end) of every vma in every mm image.
pub fn vmas(decoded: &Decoded) -> Vec<(u64, u64)> {
    decoded
        .iter()
        .filter(|(name, _)| name.starts_with("mm-"))
        .flat_map(|(_, img)| values_of(img, "vmas"))
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|vma| Some((number(&vma["start"])?, number(&vma["end"])?)))
        .collect()
}

/// The offset (`pos`) saved for the regular file named `path`, from the
/// first entry naming it.
pub fn regular_file_pos(decoded: &Decoded, path: &str) -> Option<u64> {
    decoded.values().find_map(|img| file_entry_pos(img, path))
}

fn file_entry_pos(value: &Value, path: &str) -> Option<u64> {
    match value {
        Value::Object(members) => {
            if members.get("name").and_then(Value::as_str) == Some(path) {
                if let Some(pos) = members.get("pos").and_then(number) {
                    return Some(pos);
                }
            }
            members
                .values()
                .find_map(|member| file_entry_pos(member, path))
        }
        Value::Array(items) => items.iter().find_map(|item| file_entry_pos(item, path)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Decoded {
        let mut decoded = Decoded::new();
        decoded.insert(
            "pstree.img".into(),
            json!({"magic": "PSTREE", "entries": [{"pid": 7, "threads": [7, 8]}]}),
        );
        decoded.insert(
            "mm-7.img".into(),
            json!({"entries": [{"vmas": [{"start": "0x1000", "end": "0x3000"}]}]}),
        );
        decoded.insert(
            "files.img".into(),
            json!({"entries": [{"type": "REG", "reg": {"name": "/tmp/c", "pos": 12}}]}),
        );
        decoded
    }

    #[test]
    fn facts_come_out_of_crit_json() {
        let decoded = sample();
        assert_eq!(pstree(&decoded), [(7, vec![7, 8])]);
        assert_eq!(vmas(&decoded), [(0x1000, 0x3000)]);
        assert_eq!(regular_file_pos(&decoded, "/tmp/c"), Some(12));
        assert_eq!(regular_file_pos(&decoded, "/tmp/other"), None);
    }
}
