// The JSON Schema that package.json contributes for `*.spruft.json` (`jsonValidation`,
// dist/spruft-config.schema.json). Written by esbuild.mjs at every build from the one
// schema in protocol/config.ts, beside the bundles that embed the same schema, so it
// cannot fall behind them, and no second copy lives in git.
import * as esbuild from 'esbuild';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const RUN_CONFIG_SCHEMA_FILE = join('dist', 'spruft-config.schema.json');

/** Bundle protocol/config.ts in memory, evaluate it, write its JSON Schema to `outFile`. */
export async function writeRunConfigSchema(root, outFile = join(root, RUN_CONFIG_SCHEMA_FILE)) {
  const built = await esbuild.build({
    entryPoints: ['protocol/config.ts'],
    absWorkingDir: root,
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'node',
    logLevel: 'silent',
  });
  const code = built.outputFiles[0].text;
  const module = await import(`data:text/javascript;base64,${Buffer.from(code).toString('base64')}`);
  mkdirSync(dirname(outFile), { recursive: true });
  writeFileSync(outFile, JSON.stringify(module.runConfigJsonSchema(), null, 2) + '\n');
  return outFile;
}
