#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into tests/fuzz/corpus/<target>/.

Small valid files (a few KB at most), made from the real datasets in data/
where present (first images of MNIST and CIFAR-10) or built by hand in each
format, plus a few near-misses (truncated, wrong magic). Each file follows the
input layout its harness documents (tests/fuzz/<target>.c). Standard library
only. Usage: tools/make_fuzz_seeds.py   (from the repository root)
"""
import gzip
import io
import os
import struct
import tarfile
import zlib

OUT = "tests/fuzz/corpus"


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gz(b):
    return gzip.compress(b, mtime=0)


# ---- npy ----
def npy(descr, shape, payload, major=1):
    sh = "(" + "".join(f"{s}, " for s in shape).rstrip(" ") + ")" if shape else "()"
    if len(shape) > 1:
        sh = "(" + ", ".join(str(s) for s in shape) + ")"
    d = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {sh}, }}"
    pre = 10 if major == 1 else 12
    hl = (pre + len(d) + 1 + 63) // 64 * 64 - pre
    h = (d + " " * (hl - len(d) - 1) + "\n").encode()
    size = struct.pack("<H", hl) if major == 1 else struct.pack("<I", hl)
    return b"\x93NUMPY" + bytes([major, 0]) + size + h + payload


def seeds_npy():
    put("npy", "f4_2x3", npy("<f4", [2, 3], struct.pack("<6f", *range(6))))
    put("npy", "f8_4", npy("<f8", [4], struct.pack("<4d", 0.5, -1, 2, 3)))
    put("npy", "i4_3", npy("<i4", [3], struct.pack("<3i", 1, -2, 3)))
    put("npy", "i8_2x2", npy("<i8", [2, 2], struct.pack("<4q", 1, 2, 2**40, -5)))
    put("npy", "u1_5", npy("|u1", [5], bytes(range(5))))
    put("npy", "scalar_v2", npy("<f4", [], struct.pack("<f", 1.5), major=2))
    put("npy", "empty_v3", npy("<f8", [0, 7], b"", major=3))
    put("npy", "fortran", npy("<f4", [1], b"\0" * 4).replace(b"False", b"True "))
    put("npy", "truncated", npy("<f4", [2, 3], struct.pack("<5f", *range(5))))
    fx = "tests/fixtures/nc/tall/b.npy"
    if os.path.exists(fx) and os.path.getsize(fx) < 4096:
        put("npy", "fixture_b", open(fx, "rb").read())


# ---- idx: u16 LE images length, images file, labels file ----
def idx_pair(img, lab):
    return struct.pack("<H", len(img)) + img + lab


def seeds_idx():
    n, h, w = 3, 28, 28
    src = "data/mnist/t10k-images-idx3-ubyte.gz"
    if os.path.exists(src):
        raw = gzip.open(src).read(16 + n * h * w)[16:]
        labs = gzip.open("data/mnist/t10k-labels-idx1-ubyte.gz").read(8 + n)[8:]
    else:
        raw = bytes((i * 7) & 255 for i in range(n * h * w))
        labs = bytes([7, 2, 1])
    img = struct.pack(">IIII", 2051, n, h, w) + raw
    lab = struct.pack(">II", 2049, n) + labs
    put("idx", "mnist3", idx_pair(img, lab))
    put("idx", "mnist3_gz", idx_pair(gz(img), gz(lab)))
    small = struct.pack(">IIII", 2051, 2, 4, 4) + bytes(range(32))
    put("idx", "4x4_k12", idx_pair(small, struct.pack(">II", 2049, 2) + bytes([11, 0])))
    put("idx", "empty", idx_pair(struct.pack(">IIII", 2051, 0, 1, 1),
                                 struct.pack(">II", 2049, 0)))
    put("idx", "count_mismatch", idx_pair(small, struct.pack(">II", 2049, 1) + b"\1"))


# ---- cifar: mode byte [+ u16 names length + names], batch file ----
def seeds_cifar():
    src = "data/cifar10/test_batch.bin.gz"
    if os.path.exists(src):
        recs = gzip.open(src).read(2 * 3073)
    else:
        recs = b"".join(bytes([c]) + bytes((i * c) & 255 for i in range(3072)) for c in (3, 8))
    put("cifar", "c10_2rec_gz", b"\0" + gz(recs))
    put("cifar", "c10_1rec", b"\0" + recs[:3073])
    names = b"airplane\nautomobile\n\nbird\r\ncat\n" + b"x" * 40 + b"\n"
    put("cifar", "c10_names_gz", b"\4" + struct.pack("<H", len(names)) + names + gz(recs))
    rec100 = bytes([4, 57]) + bytes((i * 3) & 255 for i in range(3072))
    put("cifar", "c100_fine_gz", b"\1" + gz(rec100 * 2))
    put("cifar", "c100_coarse", b"\2" + rec100)
    put("cifar", "c10_truncated", b"\0" + recs[:3000])


# ---- png: flags byte (bit 0: harness fixes CRCs), PNG file ----
def png(w, h, color, depth, rows, interlace=0, extra=b"", plte=None):
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace)
    body = chunk(b"IHDR", ihdr) + extra
    if plte is not None:
        body += chunk(b"PLTE", plte)
    raw = b"".join(b"\0" + r for r in rows)
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def seeds_png():
    gray = [bytes((x * 30 + y * 5) & 255 for x in range(8)) for y in range(8)]
    put("png", "gray8x8", b"\0" + png(8, 8, 0, 8, gray))
    rgb = [bytes((x * 60 + c * 80 + y) & 255 for x in range(4) for c in range(3)) for y in range(4)]
    put("png", "rgb4x4", b"\0" + png(4, 4, 2, 8, rgb))
    rgba = [bytes((x * 60 + c * 50) & 255 for x in range(3) for c in range(4)) for y in range(3)]
    put("png", "rgba3x3", b"\1" + png(3, 3, 6, 8, rgba))
    pal = [bytes([x % 3 for x in range(5)]) for y in range(2)]
    put("png", "palette5x2", b"\1" + png(5, 2, 3, 8, pal, plte=bytes(range(9))))
    put("png", "gray16_2x2", b"\0" + png(2, 2, 0, 16, [b"\1\2\3\4", b"\5\6\7\x08"]))
    bits = [bytes([0b10110000]) for y in range(4)]
    put("png", "gray1bit_4x4", b"\1" + png(4, 4, 0, 1, bits))
    put("png", "interlaced", b"\1" + png(8, 8, 0, 8, gray, interlace=1)[:-12] +
        png(1, 1, 0, 8, [b"\0"])[-12:])
    put("png", "gray_alpha", b"\1" + png(2, 2, 4, 8, [b"\1\2\3\4", b"\5\6\7\x08"]))
    put("png", "not_png", b"\0GIF89a")


# ---- tar: the archive (raw or gzip) ----
def tarball(members, fmt=tarfile.USTAR_FORMAT, compress=False):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 0
            t.addfile(ti, io.BytesIO(data))
    out = b.getvalue().rstrip(b"\0")
    out += b"\0" * ((-len(out)) % 512) + b"\0" * 1024
    return gz(out) if compress else out


def seeds_tar():
    m = [("package/data/a.txt", b"hello\n"), ("x-skip", b"12345")]
    put("tar", "ustar", tarball(m))
    put("tar", "ustar_gz", tarball(m, compress=True))
    put("tar", "gnu_longname", tarball([("d/" + "n" * 120, b"long"), ("stop", b"")],
                                       fmt=tarfile.GNU_FORMAT))
    put("tar", "prefix", tarball([("p" * 60 + "/" + "q" * 60 + "/f", b"z" * 600)]))
    put("tar", "truncated", tarball(m)[:700])


# ---- modelcfg: the model file text ----
def seeds_modelcfg():
    for f in sorted(os.listdir("models")):
        if f.endswith(".cfg"):
            put("modelcfg", f[:-4], open(os.path.join("models", f), "rb").read())
    put("modelcfg", "conv_explicit", b"""[input]
shape = 3,8,8
[c1]
kind = conv2d
out = 4
k = 3
pad = 1
bias = 0
[bn]
kind = batchnorm
eps = 1e-3
momentum = 0.2
[r]
kind = relu
[p]
kind = maxpool
k = 2
[blk]
kind = block
out = 8
stride = 2
[g]
kind = gap
[f]
kind = flatten
[head]
kind = linear
classifier = 1
frozen = 1
""")
    put("modelcfg", "bad_empty_section", b"[model]\ntype = mlp\n[relu]\n")
    put("modelcfg", "avgpool", b"# c\n[a]\nkind = avgpool\nk = 2\nstride = 2\n[fl]\nkind=flatten\n"
        b"[l]\nkind = linear\nout = 10 ; k\n")


# ---- ckpt: flags byte (bit 0 state, bit 1 fix checksum, bit 2 optimizer), file ----
def fnv(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def sealed(b):
    return b + struct.pack("<Q", fnv(b))


def seeds_ckpt():
    text = b"[input]\nshape = 4,1,1\n\n[linear1]\nkind = linear\nout = 2\n"
    model = (b"CLMODEL1" + struct.pack("<IIqq", 1, 0, 7, len(text)) + text +
             struct.pack("<qq", 3, 1) + struct.pack("<4f", 0.5, -1, 2, 0.25))
    put("ckpt", "model", b"\0" + sealed(model))
    put("ckpt", "model_fixsum", b"\2" + sealed(model))
    put("ckpt", "model_badsum", b"\0" + model + b"\0" * 8)
    rng = struct.pack("<4Qdii", 1, 2, 3, 4, 0.5, 1, 0)
    for name, flags, kind, slen in (("state_sgd", 5, 0, 4), ("state_nooptim", 1, -1, 0),
                                    ("state_adam_fixsum", 3, 1, 8)):
        st = (b"CLSTATE1" + struct.pack("<IIq", 1, 0, 7) + struct.pack("<iiqQ", 2, 0, 1, 99) +
              rng + rng + struct.pack("<q", 3) + struct.pack("<3i", 2, 0, 1) +
              struct.pack("<iiqq", kind, 0, 5, slen) + struct.pack(f"<{slen}f", *range(slen)))
        put("ckpt", name, bytes([flags]) + sealed(st))


# ---- gzip: a gzip stream ----
def seeds_gzip():
    put("gzip", "text", gz(b"collapse " * 50))
    put("gzip", "empty", gz(b""))
    put("gzip", "multi_member_padded", gz(b"abc") + gz(b"def" * 30) + b"\0" * 16)
    put("gzip", "stored", gzip.compress(bytes(range(256)), compresslevel=0, mtime=0))
    put("gzip", "garbage_after", gz(b"x") + b"junk")
    put("gzip", "truncated", gz(bytes(range(200)) * 3)[:-9])
    src = "data/mnist/t10k-labels-idx1-ubyte.gz"
    if os.path.exists(src):
        put("gzip", "mnist_labels_head", gz(gzip.open(src).read(1000)))


if __name__ == "__main__":
    seeds_npy()
    seeds_idx()
    seeds_cifar()
    seeds_png()
    seeds_tar()
    seeds_modelcfg()
    seeds_ckpt()
    seeds_gzip()
