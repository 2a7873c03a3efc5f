"""Chat messages -> the prompt string a vLLM server tokenizes.

One definition for the simulator (which renders and tokenizes the prompt as vLLM does) and the picker (which
must cut a request into the same token blocks the model server hashes): the built-in Llama 3 format, a
Hugging Face Jinja chat template rendered as transformers' ``apply_chat_template``, the template and special
tokens of ``tokenizer_config.json``, and a message's text from OpenAI's two content shapes.
"""

from chat_prompt.chat_template import ChatTemplate
from chat_prompt.chat_template_error import ChatTemplateError
from chat_prompt.message_text import message_text
from chat_prompt.tokenizer_config import TOKENIZER_CONFIG_FILE, TokenizerConfig

__all__ = ["TOKENIZER_CONFIG_FILE", "ChatTemplate", "ChatTemplateError", "TokenizerConfig", "message_text"]
