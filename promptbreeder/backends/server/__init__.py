"""OpenAI-compatible inference servers (vLLM, SGLang, llama.cpp, Ollama, TGI, `transformers serve`, ...)."""
