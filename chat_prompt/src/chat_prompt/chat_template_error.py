"""The one error of chat prompt rendering."""


class ChatTemplateError(ValueError):
    """The template is unusable (does not compile, names a missing file) or rejects the conversation (its
    ``raise_exception``, a message content of neither OpenAI shape)."""
