/**
 * The memory components' colours read apart in light and dark themes: every pair at least
 * ΔE*ab 25 (CIE76; about 2.3 is a just-noticeable difference, 25 reads as another colour at
 * a glance), and every colour at least 2:1 against the editor background (WCAG contrast
 * ratio; bars, not text).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { COMPONENT_PALETTES, themeColours, type MemoryComponent } from './theme';

function rgbOf(hex: string): [number, number, number] {
  const h = hex.replace('#', '');
  return [0, 2, 4].map((i) => Number.parseInt(h.slice(i, i + 2), 16) / 255) as [number, number, number];
}

function linear(c: number): number {
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}

/** sRGB -> CIE L*a*b* (D65). */
function lab(hex: string): [number, number, number] {
  const [r, g, b] = rgbOf(hex).map(linear) as [number, number, number];
  const x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
  const y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  const z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
  const f = (t: number) => (t > (6 / 29) ** 3 ? Math.cbrt(t) : t / (3 * (6 / 29) ** 2) + 4 / 29);
  return [116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))];
}

function deltaE(a: string, b: string): number {
  const [l1, a1, b1] = lab(a);
  const [l2, a2, b2] = lab(b);
  return Math.hypot(l1 - l2, a1 - a2, b1 - b2);
}

function contrast(a: string, b: string): number {
  const lum = (hex: string) => {
    const [r, g, bl] = rgbOf(hex).map(linear) as [number, number, number];
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x) as [number, number];
  return (hi + 0.05) / (lo + 0.05);
}

const COMPONENTS: MemoryComponent[] = ['weights', 'params', 'grads', 'optimizer', 'cache', 'dropout', 'other'];

describe('memory component colours', () => {
  for (const [kind, background] of [['light', '#ffffff'], ['dark', '#1e1e1e']] as const) {
    it(`are distinct and visible in the ${kind} theme`, () => {
      const colours = themeColours(() => undefined, kind);
      const worst: Array<[string, number]> = [];
      for (let i = 0; i < COMPONENTS.length; i++) {
        for (let j = i + 1; j < COMPONENTS.length; j++) {
          const [a, b] = [COMPONENTS[i]!, COMPONENTS[j]!];
          worst.push([`${a}/${b}`, deltaE(colours[a], colours[b])]);
        }
        const c = contrast(colours[COMPONENTS[i]!], background);
        assert.ok(c >= 2, `${COMPONENTS[i]} ${colours[COMPONENTS[i]!]} on ${background}: contrast ${c.toFixed(2)}`);
      }
      worst.sort((a, b) => a[1] - b[1]);
      assert.ok(worst[0]![1] >= 25, `closest pair ${worst[0]![0]}: ΔE ${worst[0]![1].toFixed(1)}`);
      assert.deepEqual(Object.keys(COMPONENT_PALETTES[kind]).sort(), [...COMPONENTS].sort());
    });
  }

  it('can tell VS Code\'s own chart colours apart from a close pair (the check can fail)', () => {
    // charts-yellow and charts-orange of the default dark theme, once used for two components.
    assert.ok(deltaE('#cca700', '#d18616') < 25);
  });

  it('takes method colours from the theme variables', () => {
    const colours = themeColours((name) => (name === '--vscode-charts-blue' ? ' #123456 ' : undefined), 'dark');
    assert.equal(colours.methods.spruft, '#123456');
  });
});
