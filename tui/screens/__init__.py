"""The screens of the Cercle TUI, one module each."""
