"""The tuner's Hugging Face path on a tiny random model (no weights to load): every generation parameter
reaches `model.generate`, seeds reproduce, stops end rows, an out-of-memory batch is halved."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from promptbreeder.tuning import GenerationTuner, MultiTokenStoppingCriteria
from promptbreeder.tuning.generators import TailFreeTopA

WORDS = ["[PAD]", "[EOS]", "[UNK]"] + [f"w{i}" for i in range(61)]


@pytest.fixture(scope="module")
def tiny():
    vocab = {word: i for i, word in enumerate(WORDS)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="[PAD]", eos_token="[EOS]", unk_token="[UNK]")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(WORDS), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                         pad_token_id=0, eos_token_id=1, bos_token_id=1)
    model = LlamaForCausalLM(config).eval()
    return model, tokenizer


PROMPTS = ["w1 w2 w3", "w4", "w5 w6", "w7 w8 w9 w10"]


def tuner(tiny, **settings):
    model, tokenizer = tiny
    return GenerationTuner(model, tokenizer, **{"max_new_tokens": 6, **settings}).fit()


def test_greedy_is_deterministic_and_independent_of_the_batch_size(tiny):
    answers = tuner(tiny, batch_size=4).predict(PROMPTS)
    assert answers == tuner(tiny, batch_size=1).predict(PROMPTS)
    assert all(len(a.split()) == 6 for a in answers)


def test_the_seed_decides_the_samples_and_leaves_the_callers_random_state_alone(tiny):
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    first = tuner(tiny, temperature=5.0, seed=1).predict(PROMPTS)
    assert torch.rand(1) == before
    assert first == tuner(tiny, temperature=5.0, seed=1).predict(PROMPTS)
    assert first != tuner(tiny, temperature=5.0, seed=2).predict(PROMPTS)


def test_every_parameter_reaches_generate(tiny, monkeypatch):
    model, _ = tiny
    seen = {}
    real = model.generate

    def spy(**kwargs):
        seen.update(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(model, "generate", spy)
    tuner(tiny, temperature=0.7, top_k=5, top_p=0.9, tfs=0.95, top_a=0.2, repetition_penalty=1.3,
          no_repeat_ngram_size=2, num_beams=2, max_new_tokens=4).predict(PROMPTS[:2])
    assert {k: seen[k] for k in ("temperature", "top_k", "top_p", "repetition_penalty", "no_repeat_ngram_size",
                                 "num_beams", "max_new_tokens", "do_sample")} == dict(
        temperature=0.7, top_k=5, top_p=0.9, repetition_penalty=1.3, no_repeat_ngram_size=2, num_beams=2,
        max_new_tokens=4, do_sample=True)
    (processor,) = seen["logits_processor"]
    assert (processor.tfs, processor.top_a) == (0.95, 0.2)
    seen.clear()
    tuner(tiny).predict(PROMPTS[:1])
    assert seen["do_sample"] is False and seen["temperature"] is None and "logits_processor" not in seen


def test_no_repeat_ngram_size_changes_what_greedy_writes(tiny):
    plain = tuner(tiny, max_new_tokens=12).predict(PROMPTS)
    guarded = tuner(tiny, max_new_tokens=12, no_repeat_ngram_size=1).predict(PROMPTS)
    assert all(len(set(a.split())) == len(a.split()) for a in guarded)
    assert plain != guarded  # a random tiny model repeats itself greedily


def test_tail_free_and_top_a_drop_the_tail():
    scores = torch.log(torch.tensor([[0.5, 0.3, 0.1, 0.05, 0.03, 0.02]]))
    kept = torch.isfinite(TailFreeTopA(tfs=1.0, top_a=0.5)(None, scores.clone()))
    assert kept.tolist() == [[True, True, False, False, False, False]]  # p < 0.5 * 0.5**2 = 0.125 goes
    kept = torch.isfinite(TailFreeTopA(tfs=0.5, top_a=0.0)(None, scores.clone()))
    assert kept[0, 0] and not kept[0, -1] and kept.sum() < 6


def test_token_id_stops_end_each_row_at_its_sequence(tiny):
    reference = tuner(tiny, max_new_tokens=8).predict(PROMPTS)
    _, tokenizer = tiny
    target = reference[0].split()[2]  # the third word greedy writes after the first prompt
    criterion = MultiTokenStoppingCriteria(sequence_ids=[tokenizer.convert_tokens_to_ids(target)])
    stopped = tuner(tiny, max_new_tokens=8, stopping_criteria=[criterion]).predict(PROMPTS)
    assert stopped[0].split() == reference[0].split()[:3]
    for full, cut in zip(reference, stopped):
        words = full.split()
        end = words.index(target) + 1 if target in words else len(words)
        assert cut.split() == words[:end]


def test_stop_strings_cut_before_the_stop(tiny):
    reference = tuner(tiny, max_new_tokens=8).predict(PROMPTS)
    stop = " " + reference[1].split()[3]
    answers = tuner(tiny, max_new_tokens=8, stop=[stop]).predict(PROMPTS)
    assert answers[1] == " ".join(reference[1].split()[:3])
    assert all(stop not in a for a in answers)


def test_an_out_of_memory_batch_is_halved_and_the_answers_are_the_same(tiny, monkeypatch):
    model, _ = tiny
    expected = tuner(tiny, batch_size=4).predict(PROMPTS)
    real = model.generate
    calls = []

    def small_memory(**kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        if kwargs["input_ids"].shape[0] > 1:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(**kwargs)

    monkeypatch.setattr(model, "generate", small_memory)
    after = []
    tuned = tuner(tiny, batch_size=4, callbacks_after_inference=[lambda: after.append(1)])
    assert tuned.predict(PROMPTS) == expected
    assert calls == [4, 2, 1, 1, 1, 1] and tuned.generator_.batch_size == 1 and tuned.generator_.oom_halvings == 2
    assert len(after) == len(calls)


def test_other_errors_are_not_taken_for_out_of_memory(tiny, monkeypatch):
    model, _ = tiny
    monkeypatch.setattr(model, "generate", lambda **kwargs: (_ for _ in ()).throw(RuntimeError("shape mismatch")))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        tuner(tiny, batch_size=4).predict(PROMPTS)


def test_chat_puts_each_prompt_through_the_chat_template(tiny, monkeypatch):
    model, tokenizer = tiny
    monkeypatch.setattr(tokenizer, "chat_template", "{% for m in messages %}w60 {{ m['content'] }} w61{% endfor %}",
                        raising=False)
    seen = []
    real = model.generate
    monkeypatch.setattr(model, "generate", lambda **kw: seen.append(kw["input_ids"][0].tolist()) or real(**kw))
    tuner(tiny, chat=True).predict(["w5 w6"])
    assert seen == [tokenizer("w60 w5 w6 w61")["input_ids"]]
