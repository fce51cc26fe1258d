//! The path of forced choices of a branch (`force=step:id,...` in the URL,
//! `--force` on the command line): at each step (counted from 0, the first
//! new token) that token is taken instead of the strategy's choice. The
//! engine applies it (`GenerateOptions::forced`); here it is read and written.

use super::MAX_NEW_TOKENS;

/// The largest id a forced token can have in the URL (GPT-2's vocabulary;
/// the engine checks it against the loaded model's).
const MAX_ID: u32 = 50_256;

/// `step:id,step:id,...` as a path: steps ascending and below the longest
/// run, ids within GPT-2's vocabulary. Empty text is the empty path.
pub fn parse_forced(text: &str) -> Result<Vec<(usize, u32)>, String> {
    let mut path: Vec<(usize, u32)> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let bad = || format!("{entry:?} is not step:id (e.g. 3:262, the step counted from 0)");
        let (step, id) = entry.split_once(':').ok_or_else(bad)?;
        let step: usize = step.trim().parse().map_err(|_| bad())?;
        let id: u32 = id.trim().parse().map_err(|_| bad())?;
        if step >= MAX_NEW_TOKENS {
            return Err(format!(
                "step {step} is past the longest run ({MAX_NEW_TOKENS} tokens)"
            ));
        }
        if id > MAX_ID {
            return Err(format!(
                "token id {id} is outside GPT-2's vocabulary (0..=50256)"
            ));
        }
        if let Some(&(last, _)) = path.last() {
            if step <= last {
                return Err(format!(
                    "step {step} comes after step {last}: list each step once, in ascending order"
                ));
            }
        }
        path.push((step, id));
    }
    Ok(path)
}

/// The path as `step:id,step:id,...` (the URL's and `--force`'s form).
pub fn format_forced(path: &[(usize, u32)]) -> String {
    path.iter()
        .map(|(step, id)| format!("{step}:{id}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The path of a branch taken at `step` with token `id` from a run forced
/// along `path`: its choices before `step`, then this one.
pub fn branch_at(path: &[(usize, u32)], step: usize, id: u32) -> Vec<(usize, u32)> {
    let mut branch: Vec<(usize, u32)> = path.iter().copied().filter(|&(s, _)| s < step).collect();
    branch.push((step, id));
    branch
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_path_reads_and_writes_back_the_same() {
        let path = parse_forced(" 0:262, 3:13 ,").unwrap();
        assert_eq!(path, [(0, 262), (3, 13)]);
        assert_eq!(format_forced(&path), "0:262,3:13");
        assert_eq!(parse_forced("").unwrap(), []);
    }

    #[test]
    fn bad_paths_say_what_is_wrong() {
        let err = |text: &str| parse_forced(text).unwrap_err();
        assert!(err("3").contains("is not step:id"), "{}", err("3"));
        assert!(err("a:1").contains("is not step:id"));
        assert!(err("1:-2").contains("is not step:id"));
        assert!(err("512:1").contains("past the longest run"));
        assert!(err("1:50257").contains("outside GPT-2's vocabulary"));
        assert!(err("2:1,2:5").contains("ascending order"));
        assert!(err("3:1,1:5").contains("step 1 comes after step 3"));
    }

    #[test]
    fn a_branch_keeps_the_choices_before_its_step() {
        let path = [(1, 5), (4, 9), (6, 2)];
        assert_eq!(branch_at(&path, 4, 7), [(1, 5), (4, 7)]);
        assert_eq!(branch_at(&path, 0, 3), [(0, 3)]);
        assert_eq!(branch_at(&[], 2, 3), [(2, 3)]);
    }
}
