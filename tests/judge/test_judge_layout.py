"""Where things live: the "tiny" alias is a core model name, and production code never imports
rft.testing (the loopback fault server lives there, for tests)."""

import json
import subprocess
import sys

from rft.models import is_tiny_model_name, load_model


def test_load_model_resolves_the_tiny_alias():
    model, tokenizer = load_model("tiny")
    assert model.config.hidden_size == 16  # the tiny Qwen2 test model, built locally
    assert tokenizer.pad_token is not None
    assert is_tiny_model_name("tiny") and not is_tiny_model_name("default")


def test_judge_backends_do_not_import_rft_testing():
    code = (
        "import json, sys\n"
        "from rft.judge import LocalBackend, backend_from_config\n"
        "b = backend_from_config(None, 'tiny')\n"
        "assert isinstance(b, LocalBackend) and b.identity() == 'local:tiny'\n"
        "b.load()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('rft.testing'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_fault_server_lives_in_rft_testing():
    import openai

    from rft.testing import FaultServer

    with FaultServer([{"reply": "Score: 7"}]).start() as server:
        client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)
        reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "Score: 7"
        assert server.requests == 1
