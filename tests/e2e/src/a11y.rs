//! Accessibility and layout checks of any page: axe-core's rules (injected
//! from `target/npm`, where `scripts/tools.sh` installs it), the Tab order
//! walked with real key presses, overlaps and sideways scroll, and the layout
//! shift while a run streams (Web Vitals' Cumulative Layout Shift,
//! <https://web.dev/articles/cls>).

use std::fmt;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::page::Page;

/// Where `scripts/tools.sh` installs axe-core.
pub const AXE_PATH: &str = "target/npm/node_modules/axe-core/axe.min.js";

/// WebDriver's key codes.
pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";
pub const SPACE: &str = " ";

/// Helpers every script below starts with: a readable name for an element,
/// and its box clipped by the ancestors that scroll or clip (`null` when it
/// shows nothing).
const PRELUDE: &str = r#"
const describe = e => {
  if (!e || !e.tagName) return String(e);
  const id = e.getAttribute('data-testid');
  const cls = typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\s+/).join('.') : '';
  const text = (e.getAttribute('aria-label') || e.textContent || '').trim().slice(0, 30);
  return e.tagName.toLowerCase() + cls + (id ? '[' + id + ']' : '') + (text ? ' "' + text + '"' : '');
};
const shown = e => {
  // Not rendered: hidden, or in a closed <details> (content-visibility).
  if (!e.checkVisibility({visibilityProperty: true, contentVisibilityAuto: true})) return null;
  const r = e.getBoundingClientRect();
  let b = {l: r.left, t: r.top, r: r.right, b: r.bottom};
  for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
    const cs = getComputedStyle(a);
    if (cs.overflowX !== 'visible' || cs.overflowY !== 'visible') {
      const q = a.getBoundingClientRect();
      b = {l: Math.max(b.l, q.left), t: Math.max(b.t, q.top), r: Math.min(b.r, q.right), b: Math.min(b.b, q.bottom)};
    }
  }
  return (b.r - b.l >= 2 && b.b - b.t >= 2) ? b : null;
};
const INTERACTIVE = 'button, input:not([type=hidden]), select, textarea, a[href], [tabindex], [role=button], summary';
"#;

/// One axe-core rule broken, with the elements that break it.
#[derive(Debug, Deserialize)]
pub struct Violation {
    pub id: String,
    pub impact: Option<String>,
    pub help: String,
    pub targets: Vec<String>,
}

impl Violation {
    /// Serious and critical violations fail the tests.
    pub fn is_serious(&self) -> bool {
        matches!(self.impact.as_deref(), Some("serious" | "critical"))
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {} — {}",
            self.id,
            self.impact.as_deref().unwrap_or("?"),
            self.help,
            self.targets.join(" | ")
        )
    }
}

/// axe-core's source; a missing file fails with how to install it.
pub fn axe_source() -> String {
    let path = crate::repo_root().join(AXE_PATH);
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{} cannot be read ({e}): the accessibility tests need axe-core; install it with \
             `source scripts/tools.sh && install_axe_core` (npm install --no-save --prefix \
             target/npm axe-core@4.10.3)",
            path.display()
        )
    })
}

/// Runs axe-core's rules on the whole page (injecting it on first use) and
/// returns every violation.
pub fn axe(page: &Page) -> Vec<Violation> {
    if page.script("return typeof axe", json!([])) != json!("object") {
        page.script(&format!("{}\n;return typeof axe;", axe_source()), json!([]));
    }
    let found = page.script(
        "return axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({\
           id: v.id, impact: v.impact, help: v.help,\
           targets: v.nodes.map(n => n.target.join(' '))})));",
        json!([]),
    );
    serde_json::from_value(found).unwrap_or_else(|e| panic!("reading axe's answer: {e}"))
}

/// What [`layout`] finds wrong at the window's size now.
#[derive(Debug, Deserialize)]
pub struct Layout {
    /// The viewport's width (`innerWidth`).
    pub width: f64,
    /// `scrollWidth - clientWidth` of the document: above 0, a sideways scroll.
    pub overflow: f64,
    /// The elements wider than the viewport, when there is a sideways scroll.
    pub too_wide: Vec<String>,
    /// Pairs of controls or panels whose boxes intersect by more than 1 px
    /// both ways (neither inside the other).
    pub overlaps: Vec<String>,
}

/// The sideways scroll and the overlaps between the visible controls and
/// panels, over the whole page (scrolled, not only the viewport).
pub fn layout(page: &Page) -> Layout {
    let script = format!(
        "{PRELUDE}
        const de = document.documentElement;
        const panels = 'header > *, main > *, .results > *, .controls > *, section';
        const els = [...new Set(document.querySelectorAll(INTERACTIVE + ', ' + panels))]
          .map(e => [e, shown(e)]).filter(([, b]) => b);
        const overlaps = [];
        for (let i = 0; i < els.length; i++) for (let j = i + 1; j < els.length; j++) {{
          const [a, p] = els[i], [b, q] = els[j];
          if (a.contains(b) || b.contains(a)) continue;
          const w = Math.min(p.r, q.r) - Math.max(p.l, q.l), h = Math.min(p.b, q.b) - Math.max(p.t, q.t);
          if (w > 1 && h > 1) overlaps.push(describe(a) + ' × ' + describe(b) + ' (' + w.toFixed(0) + '×' + h.toFixed(0) + ' px)');
        }}
        const tooWide = [...document.querySelectorAll('body *')]
          .filter(e => !e.closest('svg') && e.getBoundingClientRect().right > de.clientWidth + 1)
          .slice(0, 8).map(describe);
        return {{width: innerWidth, overflow: de.scrollWidth - de.clientWidth,
          too_wide: tooWide, overlaps: overlaps.slice(0, 20)}};"
    );
    serde_json::from_value(page.script(&script, json!([])))
        .unwrap_or_else(|e| panic!("reading the layout check: {e}"))
}

/// Resizes the window so that the viewport is `width` × `height` CSS pixels.
pub fn set_viewport(page: &Page, width: u32, height: u32) {
    let resize = |w: u32, h: u32| {
        page.browser
            .set_window_size(w, h)
            .unwrap_or_else(|e| panic!("resizing the window to {w}×{h}: {e}"))
    };
    resize(width, height);
    // Whatever the window's frame takes, added back once.
    let inner = page.script("return [innerWidth, innerHeight]", json!([]));
    let (iw, ih) = (
        inner[0].as_u64().unwrap_or(0),
        inner[1].as_u64().unwrap_or(0),
    );
    if (iw, ih) != (width as u64, height as u64) {
        resize(width * 2 - iw as u32, height * 2 - ih as u32);
    }
}

/// Saves the whole page (the window made as tall as the document, up to
/// 8000 px, then put back) as `target/e2e-screenshots/<name>.png`.
pub fn full_page_screenshot(page: &Page, name: &str, width: u32, height: u32) {
    let tall = page.script(
        "window.scrollTo(0, 0); return document.documentElement.scrollHeight",
        json!([]),
    );
    let tall = tall
        .as_u64()
        .unwrap_or(height as u64)
        .clamp(height as u64, 8000) as u32;
    set_viewport(page, width, tall);
    page.screenshot(name);
    set_viewport(page, width, height);
}

/// Starts measuring layout shifts (from now) and how far `anchor` (a CSS
/// selector: what sits above the streaming output) moves.
pub fn start_shift_watch(page: &Page, anchor: &str) {
    page.script(
        &format!(
            "{PRELUDE}
            const w = window.__shifts = {{since: performance.now(), all: 0, input: 0, worst: [], moved: 0, on: true}};
            const top = () => {{ const e = document.querySelector(arguments[0]); return e ? e.getBoundingClientRect().top + scrollY : 0; }};
            const start = top();
            new PerformanceObserver(list => {{
              for (const e of list.getEntries()) {{
                if (e.startTime < w.since) continue;
                w.all += e.value;
                if (e.hadRecentInput) w.input += e.value;
                w.worst.push(e.value.toFixed(4) + ': ' + (e.sources || []).map(s => describe(s.node)).join(', '));
              }}
            }}).observe({{type: 'layout-shift', buffered: true}});
            const frame = () => {{ w.moved = Math.max(w.moved, Math.abs(top() - start)); if (w.on) requestAnimationFrame(frame); }};
            frame();"
        ),
        json!([anchor]),
    );
}

/// The layout shifts since [`start_shift_watch`].
#[derive(Debug, Deserialize)]
pub struct Shifts {
    /// Every shift's score summed (those right after an input too).
    pub all: f64,
    /// The part of `all` within 500 ms of an input (Web Vitals leaves it out).
    pub input: f64,
    /// Each shift: its score and the elements that moved.
    pub worst: Vec<String>,
    /// How far the anchor moved, in CSS pixels.
    pub moved: f64,
}

/// Stops the watch and reads it.
pub fn read_shifts(page: &Page) -> Shifts {
    let found = page.script(
        "const w = window.__shifts; w.on = false; return w;",
        json!([]),
    );
    serde_json::from_value(found).unwrap_or_else(|e| panic!("reading the layout shifts: {e}"))
}

/// What [`walk_tabs`] found.
#[derive(Debug, Deserialize)]
pub struct TabWalk {
    /// The `data-testid`s of the elements Tab reached, in order (their names
    /// when they have none).
    pub reached: Vec<String>,
    /// Elements in the Tab order (visible, enabled, `tabIndex >= 0`) that Tab
    /// never reached.
    pub missed: Vec<String>,
    /// Elements that Tab reached and that look the same focused as not.
    pub no_focus_style: Vec<String>,
    /// Elements with a positive `tabindex`.
    pub positive: Vec<String>,
    /// Elements that show a pointer but are neither focusable nor inside one.
    pub pointer_only: Vec<String>,
}

/// How an element (and its parent and first child, where a focus style may
/// show: a label) and its SVG shapes look.
const LOOK: &str = r#"
const look = e => [e, e.parentElement, ...e.querySelectorAll('rect, circle')].filter(Boolean).map(x => {
  const s = getComputedStyle(x);
  return [s.outlineStyle, s.outlineWidth, s.boxShadow, s.borderColor, s.backgroundColor, s.stroke, s.strokeWidth].join('/');
}).join(' ');
"#;

/// Presses Tab from the top of the page until the focus leaves it, and checks
/// that every element in the Tab order was reached and shows its focus.
pub fn walk_tabs(page: &Page) -> TabWalk {
    page.script(
        &format!(
            "{PRELUDE}{LOOK}
            // Tab starts after the focus: a mark at the top, out of the Tab order.
            const mark = document.createElement('span');
            mark.tabIndex = -1;
            mark.id = 'tab-walk-start';
            document.body.prepend(mark);
            mark.focus();
            const all = [...document.querySelectorAll(INTERACTIVE)];
            const tabbable = all.filter(e => e.checkVisibility({{visibilityProperty: true}}) && !e.disabled && e.tabIndex >= 0 && !e.closest('[inert]'));
            window.__tabs = {{tabbable, looks: tabbable.map(look), reached: [], seen: new Set(), plain: []}};
            return null;"
        ),
        json!([]),
    );
    let limit = page
        .script("return window.__tabs.tabbable.length", json!([]))
        .as_u64()
        .unwrap_or(0)
        + 20;
    for _ in 0..limit {
        page.browser
            .press_key(TAB)
            .unwrap_or_else(|e| panic!("pressing Tab: {e}"));
        let more = page.script(
            &format!(
                "{PRELUDE}{LOOK}
                const t = window.__tabs, a = document.activeElement;
                if (!a || a === document.body || t.seen.has(a)) return false;
                t.seen.add(a);
                t.reached.push(a.getAttribute('data-testid') || describe(a));
                const i = t.tabbable.indexOf(a);
                if (i >= 0 && look(a) === t.looks[i]) t.plain.push(describe(a));
                return true;"
            ),
            json!([]),
        );
        if more != json!(true) {
            break;
        }
    }
    let found: Value = page.script(
        &format!(
            "{PRELUDE}
            const t = window.__tabs;
            document.getElementById('tab-walk-start').remove();
            const all = [...document.querySelectorAll(INTERACTIVE)];
            return {{
              reached: t.reached,
              missed: t.tabbable.filter(e => !t.seen.has(e)).map(describe),
              no_focus_style: t.plain,
              positive: all.filter(e => e.tabIndex > 0).map(describe),
              pointer_only: [...document.querySelectorAll('body *')]
                .filter(e => getComputedStyle(e).cursor === 'pointer' && !e.closest(INTERACTIVE) && !e.closest('label'))
                .map(describe),
            }};"
        ),
        json!([]),
    );
    serde_json::from_value(found).unwrap_or_else(|e| panic!("reading the Tab walk: {e}"))
}
