"""Masking time per KB for hostile and normal text at 1, 10 and 100 KB (classifier/text/pii.py).

Hostile texts are the shapes that made the old masker super-linear (digit groups joined by
separators, long runs of candidate characters before an at-sign, street words followed by units,
name cues in a row); normal text is feedback with personal data in it. Masking is linear when the
ms/KB column stays flat from 1 to 100 KB: the last column is each size's ms/KB over the 1 KB one.
Times are this process's CPU time (best of ``--repeat``), so other work on a shared machine does
not move them; wall-clock time differs by the machine's load only.

    PYTHONPATH=. python bench/bench_pii.py [--sizes 1,10,100] [--repeat 3]
"""
from __future__ import annotations

import argparse
import time

from classifier.text.pii import mask_text

NORMAL = ("我叫王小明，手机13812345678一直打不通，卡号6222021234567890123被盗刷了两万，"
          "住北京市朝阳区建国路88号5号楼1201室，邮箱zhang.san@163.com。客服电话95588一直占线，"
          "2024年12月3日被扣了5000元手续费，年化利率24%，APP版本6.2.1闪退。")

HOSTILE = {
    "digits-hyphen": "1-",
    "digits-space": "1 ",
    "amounts": "1234.56 ",
    "digit-groups": "138 1234 ",
    "at-signs": "aaaaaaaa@",
    "local-part": "a.b-c_d+",
    "street-units": "路1号",
    "name-cues": "客户王",
    "titles": "王先生",
    "plates": "京A1",
    "id-cues": "账号1 ",
    "chinese-numerals": "一二三四五六七八九〇",
}


def make(unit: str, kb: int) -> str:
    target = kb * 1024
    per = len(unit.encode("utf-8"))
    return unit * max(1, target // per)


def per_kb(text: str, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        mask_text(text)
        best = min(best, time.process_time() - start)
    return best * 1000 / (len(text.encode("utf-8")) / 1024)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1,10,100", help="text sizes in KB")
    ap.add_argument("--repeat", type=int, default=3, help="best of N per size")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    mask_text(NORMAL)  # builds the folding table once, outside the figures
    print(f"{'text':18s}" + "".join(f"{f'{s} KB ms/KB':>14s}" for s in sizes) + f"{'ratio':>8s}")
    for name, unit in {"normal": NORMAL, **HOSTILE}.items():
        figures = [per_kb(make(unit, s), args.repeat) for s in sizes]
        print(f"{name:18s}" + "".join(f"{f:14.3f}" for f in figures) + f"{figures[-1] / figures[0]:8.2f}")


if __name__ == "__main__":
    main()
