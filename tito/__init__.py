"""tito: the command line of the tinytorch course (build, test, grade, release)."""
