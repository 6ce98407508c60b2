/**
 * parseJson is JSON.parse with an error that says where the problem is (line and column), for
 * daemon.json and for request bodies alike.
 */
export class JsonSyntaxError extends Error {}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const m = /position (\d+)/.exec(msg);
    const pos = m ? Number(m[1]) : text.length;
    const before = text.slice(0, pos);
    const line = before.split('\n').length;
    const column = pos - before.lastIndexOf('\n');
    const what = msg.replace(/ in JSON at position \d+.*$/, '').replace(/^Unexpected end of JSON input$/, 'unexpected end of JSON input');
    throw new JsonSyntaxError(`${what} (line ${line}, column ${column})`);
  }
}
