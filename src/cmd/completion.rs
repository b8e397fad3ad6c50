//! `kubectl eso completion bash|zsh|fish`: small scripts that ask the binary itself
//! (`kubectl-eso __complete <words>`, cobra's protocol, see `complete.rs`) for every candidate, so
//! they cannot drift from the real flags and they complete names from the cluster (issue 13):
//! ExternalSecrets, namespaces, contexts, stores, scenarios. kubectl >= 1.26 uses the same answer
//! through `kubectl_complete-eso`.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;

use crate::cli::{CompletionArgs, ShellArg};
use crate::error::{Error, Result};
use crate::exit::Exit;

const BASH: &str = r#"# bash completion for @PROGS@ (kubectl-eso completion bash)
_kubectl_eso_complete() {
    local cur words cword
    if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
        _get_comp_words_by_ref -n =: cur words cword
    else
        # Without bash-completion: the line up to the cursor, split at blanks only (not at = or :).
        local line=${COMP_LINE:0:COMP_POINT}
        read -ra words <<< "$line"
        [[ -z $line || $line == *[[:space:]] ]] && words+=("")
        cword=$(( ${#words[@]} - 1 ))
        cur=${words[cword]}
    fi
    local out
    out=$("${words[0]}" __complete "${words[@]:1:cword}" 2>/dev/null) || return 0
    local directive=${out##*:}
    out=${out%:*}
    COMPREPLY=()
    local line
    while IFS= read -r line; do
        [[ -n $line ]] && COMPREPLY+=("$line")
    done <<< "$out"
    # bash replaces only what follows the last = or : of the word (COMP_WORDBREAKS): drop that
    # much of each candidate (`--namespace=pr` completes to `--namespace=prod`).
    local char prefix i
    for char in = :; do
        if [[ $cur == *"$char"* && $COMP_WORDBREAKS == *"$char"* ]]; then
            prefix=${cur%"${cur##*"$char"}"}
            for i in "${!COMPREPLY[@]}"; do
                COMPREPLY[i]=${COMPREPLY[i]#"$prefix"}
            done
        fi
    done
    if (( ${#COMPREPLY[@]} == 0 )) && (( (directive & 4) == 0 )); then
        compopt -o default 2>/dev/null
    elif (( directive & 2 )); then
        compopt -o nospace 2>/dev/null
    fi
    return 0
}
complete -F _kubectl_eso_complete @PROGS@
"#;

const ZSH: &str = r#"#compdef @PROGS@
# zsh completion for @PROGS@ (kubectl-eso completion zsh)
_kubectl_eso() {
    local out directive
    local -a lines cands
    out=$(${words[1]} __complete "${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
    lines=("${(@f)out}")
    directive=${lines[-1]#:}
    cands=("${(@)lines[1,-2]}")
    cands=(${cands:#})
    if (( ${#cands} == 0 )); then
        (( (directive & 4) == 0 )) && _files
        return
    fi
    if (( directive & 2 )); then
        compadd -Q -S '' -- "${cands[@]}"
    else
        compadd -Q -- "${cands[@]}"
    fi
}
if [ "$funcstack[1]" = "_kubectl_eso" ]; then
    _kubectl_eso "$@"
else
    compdef _kubectl_eso @PROGS@
fi
"#;

const FISH: &str = r#"# fish completion for @PROGS@ (kubectl-eso completion fish)
function __kubectl_eso_complete
    set -l args (commandline -opc)
    set -l prog $args[1]
    set -e args[1]
    set -l cur (commandline -ct)
    set -l out ($prog __complete $args $cur 2>/dev/null)
    or return
    set -l n (count $out)
    test $n -gt 0; or return
    set -l directive (string replace -r '^:' '' -- $out[$n])
    if test $n -gt 1
        printf '%s\n' $out[1..(math $n - 1)]
    else if test (math "bitand($directive, 4)") -eq 0
        __fish_complete_path $cur
    end
end
"#;

pub fn run(args: &CompletionArgs, argv0: &OsStr, out: &mut impl Write) -> Result<Exit> {
    let progs = programs(argv0);
    let script = match args.shell {
        ShellArg::Bash => BASH.replace("@PROGS@", &progs.join(" ")),
        ShellArg::Zsh => ZSH.replace("@PROGS@", &progs.join(" ")),
        ShellArg::Fish => {
            let mut s = FISH.replace("@PROGS@", &progs.join(" "));
            for p in &progs {
                s.push_str(&format!(
                    "complete -c {p} -f -a '(__kubectl_eso_complete)'\n"
                ));
            }
            s
        }
    };
    out.write_all(script.as_bytes()).map_err(Error::Output)?;
    Ok(Exit::Healthy)
}

/// The command names the script completes: `kubectl-eso`, and the file this binary was run as
/// when it is another plugin file (`kubectl-eso_chain`, krew's link).
fn programs(argv0: &OsStr) -> Vec<String> {
    let mut progs = vec!["kubectl-eso".to_string()];
    let stem = Path::new(argv0).file_stem().and_then(OsStr::to_str);
    if let Some(stem) = stem
        && stem.starts_with("kubectl-")
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && stem != "kubectl-eso"
    {
        progs.push(stem.to_string());
    }
    progs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(shell: ShellArg, argv0: &str) -> String {
        let mut out = Vec::new();
        if let Err(e) = run(&CompletionArgs { shell }, OsStr::new(argv0), &mut out) {
            panic!("{e}");
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn issue_13_scripts_ask_the_binary_and_name_the_krew_file() {
        for shell in [ShellArg::Bash, ShellArg::Zsh, ShellArg::Fish] {
            let s = script(shell, "/home/a/.krew/bin/kubectl-eso_chain");
            assert!(s.contains("__complete"), "{s}");
            assert!(!s.contains("@PROGS@"), "{s}");
            assert!(s.contains("kubectl-eso_chain"), "{s}");
        }
        let bash = script(ShellArg::Bash, "target/debug/kubectl-eso");
        assert!(
            bash.ends_with("complete -F _kubectl_eso_complete kubectl-eso\n"),
            "{bash}"
        );
        assert_eq!(programs(OsStr::new("/tmp/a b/eso")), vec!["kubectl-eso"]);
    }
}
