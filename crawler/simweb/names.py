"""Word lists for plausible (but fake) Chinese government names, titles and identifiers.

Everything here is plain data plus tiny pure helpers that draw from a caller-supplied
``random.Random``, so generation stays deterministic for a given seed.
"""

from __future__ import annotations

import random

# (province name, 2-digit code, abbreviation used in ICP/公安 numbers)
PROVINCES: tuple[tuple[str, str, str], ...] = (
    ("辽宁省", "21", "辽"),
    ("江苏省", "32", "苏"),
    ("浙江省", "33", "浙"),
    ("山东省", "37", "鲁"),
    ("河南省", "41", "豫"),
    ("湖北省", "42", "鄂"),
    ("广东省", "44", "粤"),
    ("四川省", "51", "川"),
    ("陕西省", "61", "陕"),
    ("吉林省", "22", "吉"),
)

_PLACE_FIRST = "青平安东西南北长宁华临新永阳清明德兴丰宝盛和泰嘉"
_PLACE_SECOND = "川阳山江河宁平安城州源水丰兴和泽林原溪宁阳"
_PLACE_SUFFIX = ("市", "县", "区")

# (host prefix, department name) — prefixes follow the usual pinyin-initial convention.
DEPARTMENTS: tuple[tuple[str, str], ...] = (
    ("jyj", "教育局"),
    ("wjw", "卫生健康委员会"),
    ("czj", "财政局"),
    ("gaj", "公安局"),
    ("mzj", "民政局"),
    ("rsj", "人力资源和社会保障局"),
    ("zrzyj", "自然资源局"),
    ("sthjj", "生态环境局"),
    ("zjj", "住房和城乡建设局"),
    ("jtj", "交通运输局"),
    ("nyncj", "农业农村局"),
    ("swj", "商务局"),
    ("wlj", "文化和旅游局"),
    ("scjgj", "市场监督管理局"),
    ("tjj", "统计局"),
)

# Column (栏目) classes and the names real sites use for them. The class decides the
# freshness window the national inspection rules apply (news 2 weeks, notices/policies
# 6 months, personnel/plans 1 year).
COLUMN_NAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "news": (("要闻动态", "ywdt"), ("工作动态", "gzdt"), ("部门动态", "bmdt"), ("基层动态", "jcdt")),
    "notice": (("通知公告", "tzgg"), ("公示公告", "gsgg")),
    "policy": (("政策文件", "zcwj"), ("政策解读", "zcjd")),
    "personnel": (("人事信息", "rsxx"), ("人事任免", "rsrm")),
    "plan": (("规划计划", "ghjh"),),
}

# Freshness windows in days, by class (what a freshness check is expected to use).
FRESHNESS_WINDOW_DAYS: dict[str, int] = {
    "news": 14,
    "notice": 183,
    "policy": 183,
    "personnel": 365,
    "plan": 365,
}

_TOPICS = (
    "安全生产",
    "优化营商环境",
    "乡村振兴",
    "生态环境保护",
    "防汛抗旱",
    "疫情防控",
    "民生实事",
    "招商引资",
    "文明城市创建",
    "扫黑除恶",
    "森林防火",
    "数字政府建设",
    "河长制",
    "市场监管",
    "就业创业",
)
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何林高罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华"

GAMBLING_TERMS = ("澳门葡京", "百家乐", "真人娱乐", "体育投注", "在线棋牌", "时时彩")
HIJACK_BRAND = "博码体育APP下载"


def place_name(rng: random.Random) -> str:
    return rng.choice(_PLACE_FIRST) + rng.choice(_PLACE_SECOND) + rng.choice(_PLACE_SUFFIX)


def person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + rng.choice(_GIVEN) + (rng.choice(_GIVEN) if rng.random() < 0.5 else "")


def item_title(rng: random.Random, cls: str, place: str) -> str:
    topic = rng.choice(_TOPICS)
    if cls == "news":
        return rng.choice(
            (
                f"{place}召开{topic}工作推进会",
                f"{place}开展{topic}专项检查",
                f"{person(rng)}调研{topic}工作",
                f"我{place[-1]}{topic}工作取得阶段性成效",
            )
        )
    if cls == "notice":
        return rng.choice(
            (
                f"关于开展{topic}专项行动的通知",
                f"关于{topic}有关事项的公告",
                f"{place}{topic}项目拟立项公示",
            )
        )
    if cls == "policy":
        return rng.choice(
            (
                f"关于印发《{place}{topic}实施方案》的通知",
                f"《{place}{topic}若干措施》政策解读",
                f"{place}人民政府关于加强{topic}工作的意见",
            )
        )
    if cls == "personnel":
        return rng.choice((f"关于{person(rng)}等同志任免职的通知", f"{place}公开招聘事业单位工作人员公告"))
    return rng.choice((f"{place}{topic}三年行动计划", f"{place}国民经济和社会发展第十四个五年规划纲要"))


def paragraph(rng: random.Random, place: str) -> str:
    topic = rng.choice(_TOPICS)
    return (
        f"为深入贯彻落实上级关于{topic}工作的决策部署，{place}坚持问题导向，"
        f"压实工作责任，统筹推进各项任务落地见效。会议要求，各部门要提高政治站位，"
        f"强化协调配合，确保{topic}各项工作取得实效。"
    )
