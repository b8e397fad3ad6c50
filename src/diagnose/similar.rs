//! "Did you mean": the name among `candidates` that a typed name most likely meant — one or two
//! edits away (Damerau: a swap of neighbours is one edit), or equal once case and `-`, `_`, `.`
//! are ignored (`ClientSecret` for `client-secret`). `None` when no candidate is that close, or
//! when two are equally close (a guess would be a coin toss).

/// The closest candidate within reach, if there is exactly one.
pub fn did_you_mean<'a>(
    typed: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    let mut tie = false;
    for c in candidates {
        if c == typed {
            continue;
        }
        let d = if fold(c) == fold(typed) {
            0
        } else {
            distance(typed, c)
        };
        let reach = if typed.chars().count() <= 4 { 1 } else { 2 };
        if d > reach {
            continue;
        }
        match best {
            Some((bd, _)) if d > bd => {}
            Some((bd, _)) if d == bd => tie = true,
            _ => {
                best = Some((d, c));
                tie = false;
            }
        }
    }
    if tie { None } else { best.map(|(_, c)| c) }
}

fn fold(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Optimal string alignment distance.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue12_one_letter_off_finds_the_store() {
        assert_eq!(did_you_mean("vualt", ["vault", "azure"]), Some("vault"));
        assert_eq!(
            did_you_mean("vault-prod", ["vault-prd", "vault-dev"]),
            Some("vault-prd")
        );
        assert_eq!(
            did_you_mean("ClientSecret", ["client-secret", "client-id"]),
            Some("client-secret")
        );
    }

    #[test]
    fn near_misses_that_must_not_match() {
        // Far apart, equal, short names two edits apart, and ties.
        assert_eq!(did_you_mean("vault", ["azure-kv"]), None);
        assert_eq!(did_you_mean("vault", ["vault"]), None);
        assert_eq!(did_you_mean("db", ["ab", "dc"]), None);
        assert_eq!(did_you_mean("aws", ["gcp"]), None);
        assert_eq!(did_you_mean("store-a", ["store-b", "store-c"]), None);
    }
}
