#!/usr/bin/python3
"""NumPy reference forward pass for the llama family of GGUF models: llama (with grouped-query
attention), mistral (llama + optional sliding-window attention), qwen2 (+ q/k/v biases, NeoX
rope) and qwen3 (no biases, per-head RMSNorm of q and k, NeoX rope).

This is the test oracle for hearth's C++ forward pass. It is written for clarity, not speed,
computes in float64 by default, and shares no code with src/ (weights come through the
independent gguf_reader.py).

    forward.py MODEL --tokens 1,2,3 --logits-out FILE.npy    logits of every position [T, n_vocab]
    forward.py MODEL --greedy 64 --prompt-tokens 1,2,3        print the generated ids
    forward.py MODEL --greedy 64 --prompt "Once upon a time"  SPM-tokenize (BOS + pieces) first;
                                                              add --text to also print the text
Options: --f32 (compute in float32), --kv-f16 (round cached K/V to IEEE half, as hearth stores
them), --act-q8 (round the input of every product with a quantized weight to 8-bit blocks, as
hearth does: see act_q8 below), --kv-from FILE.npy (see Model.round_kv).
"""

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_reader import GGUFError, GGUFFile  # noqa: E402

ARCHS = ("llama", "mistral", "qwen2", "qwen3")


class HParams:
    def __init__(self, f):
        arch = f.get("general.architecture")
        if arch not in ARCHS:
            raise GGUFError("architecture %r is not one of %s" % (arch, ", ".join(ARCHS)))
        self.arch = arch

        def key(name, default=None, required=False):
            v = f.get("%s.%s" % (arch, name), default)
            if required and v is None:
                raise GGUFError("missing metadata key %s.%s" % (arch, name))
            return v

        self.n_embd = int(key("embedding_length", required=True))
        self.n_layer = int(key("block_count", required=True))
        self.n_ff = int(key("feed_forward_length", required=True))
        self.n_head = int(key("attention.head_count", required=True))
        self.n_head_kv = int(key("attention.head_count_kv", self.n_head))
        self.head_dim = int(key("attention.key_length", self.n_embd // self.n_head))
        self.n_rot = int(key("rope.dimension_count", self.head_dim))
        self.eps = float(key("attention.layer_norm_rms_epsilon", 1e-5))
        self.freq_base = float(key("rope.freq_base", 10000.0))
        self.n_ctx_train = int(key("context_length", 2048))
        self.sliding_window = int(key("attention.sliding_window", 0) or 0)
        scaling = key("rope.scaling.type", "none")
        factor = float(key("rope.scaling.factor", 1.0) or 1.0)
        if scaling not in ("none", "linear", "yarn"):
            raise GGUFError("rope scaling type %r is not supported" % scaling)
        if scaling != "none" and factor <= 0:
            raise GGUFError("rope.scaling.factor %g must be positive" % factor)
        self.rope_scaling = scaling
        self.freq_scale = 1.0 / factor if scaling != "none" else 1.0
        self.n_ctx_orig = int(key("rope.scaling.original_context_length", self.n_ctx_train))
        self.yarn_beta_fast = float(key("rope.scaling.yarn_beta_fast", 32.0))
        self.yarn_beta_slow = float(key("rope.scaling.yarn_beta_slow", 1.0))
        self.yarn_ext_factor = 1.0 if scaling == "yarn" else 0.0
        self.attn_factor = 1.0
        # llama/mistral GGUF files permute q/k rows for the adjacent-pairs rope; qwen2/3 keep the
        # Hugging Face layout and rotate the two halves of each head (NeoX style).
        self.rope_neox = arch in ("qwen2", "qwen3")
        if self.n_head % self.n_head_kv:
            raise GGUFError("head_count %d is not a multiple of head_count_kv %d" % (self.n_head, self.n_head_kv))
        if self.n_rot % 2 or self.n_rot > self.head_dim:
            raise GGUFError("rope.dimension_count %d must be even and at most the head size %d"
                            % (self.n_rot, self.head_dim))


def rope_angles(hp, positions, freq_factors=None):
    """cos, sin of shape [T, n_rot/2] and the magnitude factor, from the RoPE definition:
    angle(pos, i) = pos · base^(−2i/n_rot), with linear or YaRN context scaling."""
    half = hp.n_rot // 2
    i = np.arange(half, dtype=np.float64)
    inv_freq = hp.freq_base ** (-2.0 * i / hp.n_rot)
    if freq_factors is not None:            # llama 3 style per-dimension divisors (rope_freqs.weight)
        inv_freq = inv_freq / freq_factors.astype(np.float64)
    extrap = np.outer(np.asarray(positions, np.float64), inv_freq)
    interp = hp.freq_scale * extrap
    mscale = hp.attn_factor
    if hp.rope_scaling == "yarn" and hp.yarn_ext_factor != 0.0:
        # Pair index where a dimension makes `r` full turns over the original context.
        def corr(r):
            return hp.n_rot * math.log(hp.n_ctx_orig / (r * 2 * math.pi)) / (2 * math.log(hp.freq_base))
        low = max(0.0, math.floor(corr(hp.yarn_beta_fast)))
        high = min(hp.n_rot - 1.0, math.ceil(corr(hp.yarn_beta_slow)))
        ramp = 1.0 - np.clip((i - low) / max(0.001, high - low), 0.0, 1.0)   # 1: extrapolate
        mix = ramp * hp.yarn_ext_factor
        theta = interp * (1 - mix) + extrap * mix
        mscale *= 1.0 + 0.1 * math.log(1.0 / hp.freq_scale)
    else:
        theta = interp
    return np.cos(theta) * mscale, np.sin(theta) * mscale


def apply_rope(x, cos, sin, hp):
    """x: [T, heads, head_dim]; rotates the first n_rot dims of every head."""
    x = x.copy()
    half = hp.n_rot // 2
    c = cos[:, None, :]
    s = sin[:, None, :]
    if hp.rope_neox:
        a = x[..., 0:half].copy()
        b = x[..., half:2 * half].copy()
        x[..., 0:half] = a * c - b * s
        x[..., half:2 * half] = a * s + b * c
    else:
        a = x[..., 0:2 * half:2].copy()
        b = x[..., 1:2 * half:2].copy()
        x[..., 0:2 * half:2] = a * c - b * s
        x[..., 1:2 * half:2] = a * s + b * c
    return x


def rmsnorm(x, w, eps):
    ms = np.mean(x * x, axis=-1, keepdims=True)
    return x / np.sqrt(ms + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


# Activation formats hearth (like ggml) multiplies quantized weights with: the input row is cut
# into blocks (32 values for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 weights; 256 for the K-quants), each
# stored as float d = max|x| / 127 and q = round(x / d) in [-127, 127] (ties to even). Float
# weights (F32, F16, BF16) take the activations as they are.
ACT_BLOCK = {2: 32, 3: 32, 6: 32, 7: 32, 8: 32, 12: 256, 13: 256, 14: 256}

def act_q8(x, block):
    """x [..., n] → the values the 8-bit activation blocks represent (float64)."""
    shape = x.shape
    b = x.astype(np.float64).reshape(-1, block)
    d = (np.abs(b).max(axis=1, keepdims=True) / 127.0).astype(np.float32).astype(np.float64)
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.clip(np.rint(b * inv), -127, 127)      # np.rint rounds half to even
    return (q * d).reshape(shape)


class Model:
    def __init__(self, path, dtype=np.float64, kv_f16=False, act_q8=False, kv_from=None, kv_tolerance=1e-5):
        self.f = GGUFFile(path)
        self.hp = HParams(self.f)
        self.dtype = dtype
        self.kv_f16 = kv_f16 or kv_from is not None
        self.act_q8 = act_q8
        self.kv_from = kv_from      # [n_layer, 2 (K, V), positions, n_head_kv * head_dim] halves
        self.kv_tolerance = kv_tolerance  # slack of the kv_from check, relative to the row's RMS
        self.kv_max_dev = 0.0       # largest |given - own| / (one F16 step + slack), see round_kv
        self.act_block = {}   # matrix name -> activation block size (None: float weight)
        hp = self.hp

        def t(name, optional=False):
            if name not in self.f.tensors:
                if optional:
                    return None
                raise GGUFError("%s: missing tensor %s" % (path, name))
            tt = self.f.tensors[name].type
            self.act_block[name] = ACT_BLOCK.get(tt)
            return self.f.tensor(name).astype(dtype)

        self.token_embd = t("token_embd.weight")                 # [n_vocab, n_embd]
        self.output_norm = t("output_norm.weight")
        out = t("output.weight", optional=True)
        self.output = out if out is not None else self.token_embd  # tied embeddings
        self.output_act = self.act_block["output.weight" if out is not None else "token_embd.weight"]
        self.rope_freqs = t("rope_freqs.weight", optional=True)
        self.layers = []
        for l in range(hp.n_layer):
            p = "blk.%d." % l
            L = {n: t(p + n + ".weight") for n in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                                                    "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")}
            for n in ("attn_q", "attn_k", "attn_v"):
                L[n + ".bias"] = t(p + n + ".bias", optional=True)
            L["attn_q_norm"] = t(p + "attn_q_norm.weight", optional=True)
            L["attn_k_norm"] = t(p + "attn_k_norm.weight", optional=True)
            L["act"] = {n: self.act_block[p + n + ".weight"] for n in ("attn_q", "attn_k", "attn_v", "attn_output",
                                                                      "ffn_gate", "ffn_up", "ffn_down")}
            self.layers.append(L)
        self.n_vocab = self.token_embd.shape[0]
        self.reset()

    def reset(self):
        hp = self.hp
        self.k_cache = [np.zeros((0, hp.n_head_kv, hp.head_dim), self.dtype) for _ in range(hp.n_layer)]
        self.v_cache = [np.zeros((0, hp.n_head_kv, hp.head_dim), self.dtype) for _ in range(hp.n_layer)]

    @property
    def n_past(self):
        return self.k_cache[0].shape[0]

    def forward(self, tokens):
        """Appends tokens to the sequence; returns logits [len(tokens), n_vocab]."""
        hp = self.hp
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.size == 0:
            raise ValueError("no tokens")
        if tokens.min() < 0 or tokens.max() >= self.n_vocab:
            raise ValueError("token id out of range [0, %d)" % self.n_vocab)
        T = tokens.size
        start = self.n_past
        pos = np.arange(start, start + T)
        cos, sin = rope_angles(hp, pos, self.rope_freqs)
        cos = cos.astype(self.dtype)
        sin = sin.astype(self.dtype)
        group = hp.n_head // hp.n_head_kv
        scale = 1.0 / math.sqrt(hp.head_dim)

        # Causal mask over all cached + new positions, with the optional sliding window:
        # query at p sees key at k iff k ≤ p and p − k < window.
        kpos = np.arange(start + T)
        allowed = kpos[None, :] <= pos[:, None]
        if hp.sliding_window > 0:
            allowed &= (pos[:, None] - kpos[None, :]) < hp.sliding_window

        x = self.token_embd[tokens]
        for l, L in enumerate(self.layers):
            h = rmsnorm(x, L["attn_norm"], hp.eps)
            q = self.mm(h, L, "attn_q")
            k = self.mm(h, L, "attn_k")
            v = self.mm(h, L, "attn_v")
            if L["attn_q.bias"] is not None:
                q = q + L["attn_q.bias"]
                k = k + L["attn_k.bias"]
                v = v + L["attn_v.bias"]
            q = q.reshape(T, hp.n_head, hp.head_dim)
            k = k.reshape(T, hp.n_head_kv, hp.head_dim)
            v = v.reshape(T, hp.n_head_kv, hp.head_dim)
            if L["attn_q_norm"] is not None:
                q = rmsnorm(q, L["attn_q_norm"], hp.eps)
                k = rmsnorm(k, L["attn_k_norm"], hp.eps)
            q = apply_rope(q, cos, sin, hp)
            k = apply_rope(k, cos, sin, hp)
            if self.kv_f16:
                k = self.round_kv(k, l, "k", start)
                v = self.round_kv(v, l, "v", start)
            self.k_cache[l] = np.concatenate([self.k_cache[l], k], axis=0)
            self.v_cache[l] = np.concatenate([self.v_cache[l], v], axis=0)
            K = np.repeat(self.k_cache[l], group, axis=1)      # [S, n_head, hd]: head h uses kv h // group
            V = np.repeat(self.v_cache[l], group, axis=1)
            att = np.einsum("thd,shd->hts", q, K) * scale         # [n_head, T, S]
            att = np.where(allowed[None, :, :], att, -np.inf)
            att = att - att.max(axis=-1, keepdims=True)
            att = np.exp(att)
            att /= att.sum(axis=-1, keepdims=True)
            o = np.einsum("hts,shd->thd", att, V).reshape(T, hp.n_head * hp.head_dim)
            x = x + self.mm(o, L, "attn_output")

            h = rmsnorm(x, L["ffn_norm"], hp.eps)
            g = self.mm(h, L, "ffn_gate")
            u = self.mm(h, L, "ffn_up")
            x = x + self.mm(silu(g) * u, L, "ffn_down")

        x = rmsnorm(x, self.output_norm, hp.eps)
        if self.act_q8 and self.output_act:
            x = act_q8(x, self.output_act)
        return x @ self.output.T

    def mm(self, x, L, name):
        """x @ W.T for layer matrix `name`, with hearth's activation rounding when --act-q8."""
        if self.act_q8 and L["act"][name]:
            x = act_q8(x, L["act"][name])
        return x @ L[name].T

    def round_kv(self, x, layer, which, start):
        """x [T, n_head_kv, head_dim] (K or V of positions start..start+T-1) as the F16 cache
        holds it. Plain: rounded to the nearest half (ties to even). With kv_from: the values
        the implementation under test cached, after checking that each is within one F16 step
        of this oracle's own value. An implementation computing in float32 rounds a value lying
        on a midpoint between two halves either way, and one cached value a step off moves
        later logits by up to ~1e-3; taking its cache keeps the comparison of everything else
        exact, while every cached value is still checked to F16 precision (plus kv_tolerance
        times the RMS of its row: float32 noise by default; more for quantized weights, whose
        8-bit activations may round a step apart too)."""
        shape = x.shape
        if self.kv_from is None:
            return x.astype(np.float16).astype(self.dtype)
        own = x.reshape(shape[0], -1).astype(np.float64)
        given = self.kv_from[layer, 0 if which == "k" else 1, start:start + shape[0]]
        if given.shape != own.shape:
            raise ValueError("--kv-from: layer %d %s has shape %s, expected %s"
                             % (layer, which.upper(), given.shape, own.shape))
        given = given.astype(np.float64)
        # One step: the spacing of halves at the value, plus the slack relative to the row.
        step = np.abs(np.spacing(own.astype(np.float16)).astype(np.float64))
        row = np.sqrt(np.mean(own * own, axis=1, keepdims=True))
        dev = np.abs(given - own) / (step + self.kv_tolerance * row)
        self.kv_max_dev = max(self.kv_max_dev, float(dev.max()))
        if not np.all(dev <= 1.0):
            t, i = np.unravel_index(int(np.argmax(dev)), dev.shape)
            raise ValueError("--kv-from: layer %d %s of position %d, element %d: cached %.7g, oracle %.7g "
                             "(more than one F16 step + %g of the row's RMS %.4g apart)"
                             % (layer, which.upper(), start + t, i, given[t, i], own[t, i], self.kv_tolerance,
                                row[t, 0]))
        return given.reshape(shape).astype(self.dtype)

    def greedy(self, prompt, n):
        self.reset()
        logits = self.forward(prompt)[-1]
        out = []
        for i in range(n):
            t = int(np.argmax(logits))   # ties: lowest id
            out.append(t)
            if i + 1 < n:
                logits = self.forward([t])[-1]
        return out


# ---- a minimal SentencePiece (llama vocabulary) tokenizer, for prompts given as text ----

def spm_encode(f, text, add_bos=True):
    """Greedy merge by score, as SPM's BPE models do: start from single characters (byte-fallback
    tokens <0xXX> for characters not in the vocabulary) and repeatedly merge the adjacent pair
    whose concatenation is a vocabulary piece with the highest score (leftmost on ties)."""
    tokens = f.get("tokenizer.ggml.tokens")
    scores = f.get("tokenizer.ggml.scores")
    index = {p: i for i, p in enumerate(tokens)}
    text = "\u2581" + text.replace(" ", "\u2581")      # add_dummy_prefix, spaces → ▁
    syms = list(text)
    while True:
        best, best_score = -1, -math.inf
        for i in range(len(syms) - 1):
            cand = syms[i] + syms[i + 1]
            if cand in index and scores[index[cand]] > best_score:
                best, best_score = i, scores[index[cand]]
        if best < 0:
            break
        syms[best:best + 2] = [syms[best] + syms[best + 1]]
    ids = [int(f.get("tokenizer.ggml.bos_token_id", 1))] if add_bos else []
    for s in syms:
        if s in index:
            ids.append(index[s])
        else:
            ids.extend(index["<0x%02X>" % b] for b in s.encode("utf-8"))
    return ids


def spm_decode(f, ids):
    tokens = f.get("tokenizer.ggml.tokens")
    out = bytearray()
    for t in ids:
        p = tokens[t]
        if len(p) == 6 and p.startswith("<0x") and p.endswith(">"):
            out.append(int(p[3:5], 16))
        else:
            out += p.replace("\u2581", " ").encode("utf-8", errors="surrogateescape")
    return out.decode("utf-8", errors="replace")


def parse_ids(s):
    return [int(t) for t in s.replace(" ", "").split(",") if t]


def main(argv):
    ap = argparse.ArgumentParser(description="NumPy reference forward pass (test oracle)")
    ap.add_argument("model")
    ap.add_argument("--tokens", help="comma-separated token ids to evaluate")
    ap.add_argument("--logits-out", help=".npy file for the logits of every position [T, n_vocab] (float32)")
    ap.add_argument("--greedy", type=int, help="generate N tokens greedily")
    ap.add_argument("--prompt-tokens", help="comma-separated prompt ids for --greedy")
    ap.add_argument("--prompt", help="prompt text for --greedy (llama SPM vocabularies; BOS added)")
    ap.add_argument("--text", action="store_true", help="with --greedy: also print the decoded text")
    ap.add_argument("--f32", action="store_true", help="compute in float32 instead of float64")
    ap.add_argument("--kv-f16", action="store_true", help="round cached K/V to IEEE half")
    ap.add_argument("--act-q8", action="store_true",
                    help="round inputs of quantized-weight products to 8-bit blocks, as hearth does")
    ap.add_argument("--kv-from",
                    help=".npy [n_layer, 2, T, n_head_kv*head_dim] (float16): the K/V cache of the "
                         "implementation under test, used after checking it (implies --kv-f16)")
    ap.add_argument("--kv-tolerance", type=float, default=1e-5,
                    help="with --kv-from: allowed difference beyond one F16 step, relative to the row's RMS")
    a = ap.parse_args(argv)
    try:
        kv_from = np.load(a.kv_from) if a.kv_from else None
        m = Model(a.model, np.float32 if a.f32 else np.float64, a.kv_f16, a.act_q8, kv_from, a.kv_tolerance)
        if a.tokens is not None:
            logits = m.forward(parse_ids(a.tokens))
            if kv_from is not None:
                print("kv-from: largest difference %.3f F16 steps" % m.kv_max_dev)
            if a.logits_out:
                np.save(a.logits_out, logits.astype(np.float32))
            else:
                np.set_printoptions(precision=6, suppress=True)
                print(logits)
        if a.greedy is not None:
            if a.prompt is not None:
                prompt = spm_encode(m.f, a.prompt)
            elif a.prompt_tokens is not None:
                prompt = parse_ids(a.prompt_tokens)
            else:
                ap.error("--greedy needs --prompt-tokens or --prompt")
            ids = m.greedy(prompt, a.greedy)
            print(",".join(str(i) for i in ids))
            if a.text:
                print(spm_decode(m.f, ids))
        if a.tokens is None and a.greedy is None:
            ap.error("nothing to do: give --tokens and/or --greedy")
    except (GGUFError, ValueError) as e:
        print("forward.py: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
