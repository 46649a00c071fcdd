"""The one exception the workbench raises for anything a user must act on."""


class WorkbenchError(Exception):
    """A failure with a message meant for a person: what broke, where, what to do.

    The command-line entry point prints it as one paragraph and exits non-zero;
    nothing else in the workbench prints tracebacks for expected failures.
    """

    def __init__(self, message, hint=None):
        super().__init__(message)
        self.hint = hint

    def __str__(self):
        text = self.args[0]
        if self.hint:
            text += "\n" + self.hint
        return text
