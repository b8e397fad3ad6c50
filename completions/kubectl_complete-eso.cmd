@echo off
rem kubectl >= 1.26 on Windows completes `kubectl eso <TAB>` by running this file from PATH with the
rem words typed after "eso"; kubectl-eso.exe answers in cobra's __complete format.
kubectl-eso.exe __complete %*
