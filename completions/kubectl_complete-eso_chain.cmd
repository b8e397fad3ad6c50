@echo off
rem kubectl >= 1.26 on Windows completes `kubectl eso-chain <TAB>` (the krew install) by running this
rem file from PATH with the words typed after "eso-chain"; krew links the plugin as kubectl-eso_chain.exe.
kubectl-eso_chain.exe __complete %*
