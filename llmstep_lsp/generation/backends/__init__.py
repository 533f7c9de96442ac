"""Model backends behind `Generator.generate`: OpenAI-compatible HTTP servers (`openai_compatible.py`
over `openai_http.py`), a llama.cpp server the sidecar manages (`llama_cpp.py`), and Hugging Face
models in this process (`huggingface.py`: loading, the causal and seq2seq samplers)."""
