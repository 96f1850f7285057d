"""How agent-memory-server 0.15.2 is configured wherever this project runs it (`make bench`'s
benchmarks/bench_deploy.py, the import test's tests/imports/reference.py): no auth, no LLM
work of its own (extraction, topics, NER, summaries and forgetting off), and its
embeddings from an OpenAI-compatible endpoint over our local model (384 dimensions), so
both servers embed alike."""


def reference_env(*, embeddings_port: int, api_key: str) -> dict[str, str]:
    return {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "DISABLE_AUTH": "true",
        "AUTH_MODE": "disabled",
        "LONG_TERM_MEMORY": "true",
        "ENABLE_DISCRETE_MEMORY_EXTRACTION": "false",
        "ENABLE_TOPIC_EXTRACTION": "false",
        "ENABLE_NER": "false",
        "ENABLE_WORKING_MEMORY_SUMMARIZATION": "false",
        "INDEX_ALL_MESSAGES_IN_LONG_TERM_MEMORY": "false",
        "FORGETTING_ENABLED": "false",
        "GENERATION_MODEL": "gpt-4o-mini",
        "EMBEDDING_MODEL": "openai/all-MiniLM-L6-v2",
        "REDISVL_VECTOR_DIMENSIONS": "384",
        "OPENAI_API_KEY": api_key,
        "OPENAI_API_BASE": f"http://127.0.0.1:{embeddings_port}/v1",
        "LOG_LEVEL": "WARNING",
    }
