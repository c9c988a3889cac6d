/**
 * The WGSL rewrite behind shared bind groups (decode-plan-share.ts): reading a planned kernel's
 * binding declarations, and replacing every indexed access of a binding by an index into another view.
 */

export interface Declaration {
  binding: number;
  name: string;
  /** 'uniform', or a storage access mode. */
  access: 'uniform' | 'read' | 'read_write';
  /** Element type of a storage array. */
  elem: string;
  text: string;
}

export const elementBytes: Record<string, number> = {
  f32: 4,
  u32: 4,
  i32: 4,
  'vec2<f32>': 8,
  'vec2<u32>': 8,
  'vec4<f32>': 16,
  'vec4<u32>': 16,
  'atomic<u32>': 4,
};

/** The `@group(0)` declarations of a kernel (every planned kernel declares its bindings so). */
export function parseDeclarations(code: string): Declaration[] {
  const out: Declaration[] = [];
  const re = /@group\((\d+)\) @binding\((\d+)\) var<(uniform|storage, (read|read_write))> (\w+): ([^;]+);/g;
  for (const m of code.matchAll(re)) {
    if (m[1] !== '0') throw new Error(`a kernel already uses bind group ${m[1]}`);
    const type = m[6]!.trim();
    let elem = type;
    if (m[3] !== 'uniform') {
      const array = /^array<(.+?)(?:,\s*\d+u?)?>$/.exec(type);
      if (!array || !(array[1]! in elementBytes)) throw new Error(`unsupported binding type '${type}'`);
      elem = array[1]!;
    }
    out.push({
      binding: Number(m[2]),
      name: m[5]!,
      access: m[3] === 'uniform' ? 'uniform' : (m[4] as 'read' | 'read_write'),
      elem,
      text: m[0],
    });
  }
  return out;
}

/** `code` with functions' parameters called `name` renamed (within their function), so that they do not shadow it. */
function renameParameters(code: string, name: string): string {
  const fn = /\bfn\s+\w+\s*\(([^)]*)\)/g;
  for (let m = fn.exec(code); m; m = fn.exec(code)) {
    if (!new RegExp(`(^|[(,])\\s*${name}\\s*:`).test(m[1]!)) continue;
    const open = code.indexOf('{', m.index + m[0].length);
    let depth = 0;
    let close = open;
    for (; close < code.length; close++) {
      if (code[close] === '{') depth++;
      else if (code[close] === '}' && --depth === 0) break;
    }
    const renamed = code
      .slice(m.index, close + 1)
      .replace(new RegExp(`(?<![\\w.])${name}\\b`, 'g'), `${name}_slmArg`);
    code = code.slice(0, m.index) + renamed + code.slice(close + 1);
    fn.lastIndex = m.index + renamed.length;
  }
  return code;
}

/**
 * `code` with every `name[index]` replaced by `replace(index)` (nested accesses too); functions'
 * parameters of that name are renamed first. Throws where `name` is used otherwise (passed whole, or
 * shadowed by a local), since that could not be rewritten.
 */
export function rewriteIndexing(code: string, name: string, replace: (index: string) => string): string {
  code = renameParameters(code, name);
  if (new RegExp(`\\b(let|var|const)\\s+${name}\\b`).test(code))
    throw new Error(`'${name}' is also a local name`);
  const re = new RegExp(`(?<![\\w.])${name}\\b`, 'g');
  let out = '';
  let at = 0;
  for (let m = re.exec(code); m; m = re.exec(code)) {
    let open = m.index + name.length;
    while (code[open] === ' ') open++;
    if (code[open] !== '[') throw new Error(`'${name}' is used other than indexed`);
    let depth = 0;
    let close = open;
    for (; close < code.length; close++) {
      if (code[close] === '[') depth++;
      else if (code[close] === ']' && --depth === 0) break;
    }
    if (close >= code.length) throw new Error(`unbalanced '[' after '${name}'`);
    out += code.slice(at, m.index) + replace(rewriteIndexing(code.slice(open + 1, close), name, replace));
    at = close + 1;
    re.lastIndex = at;
  }
  return out + code.slice(at);
}
