/** Shell-style globs (`*` any run of characters, `?` one character) to one anchored RegExp. */
export function globToRegExp(globs: readonly string[]): RegExp {
  const alternatives = globs.map((g) => {
    let re = '';
    for (const ch of g) {
      if (ch === '*') re += '.*';
      else if (ch === '?') re += '.';
      else re += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
    }
    return re;
  });
  return new RegExp(`^(?:${alternatives.join('|')})$`, 's');
}
