/**
 * The run-config language server (node, stdio), started by the extension through
 * vscode-languageclient (protocol/languageServer.ts: the document selector, settings and watched files).
 *
 *   diagnostics  as you type: the same findings as `spruft check` (runner/src/config/load.ts)
 *   completion   keys, values, paths, the model's layer names and patterns
 *   hover        key and value docs; the layers a pattern matches
 *   code actions the fixes the findings carry (unknown keys, out-of-range ranks, ...)
 *   symbols      the sections and keys, for the outline
 *   code lens    the estimated training memory of each method, above `method:`
 *
 * Nothing a document holds may stop the server: every handler answers (null at worst),
 * and texts too large to be a run config are refused before parsing.
 */
import {
  CodeActionKind,
  CodeLensRefreshRequest,
  DiagnosticSeverity,
  DidChangeConfigurationNotification,
  ProposedFeatures,
  TextDocumentSyncKind,
  TextDocuments,
  createConnection,
  type CodeAction,
  type Diagnostic,
  type InitializeParams,
  type InitializeResult,
} from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import { MAX_CONFIG_CHARS, parseRunConfig, type ParsedRunConfig } from '../../protocol/configValidate';
import type { ConfigDiagnostic, ConfigFix } from '../../protocol/diagnostics';
import { CHECK_SETTINGS_SECTION, DEFAULT_CHECK_SETTINGS, readCheckSettings, type RunConfigSettings } from '../../protocol/languageServer';
import { readModelLayers } from '../../runner/src/config/modelInspector';
import { analyze, baseDirOf, filePathOf, type Analysis } from './analysis';
import { completionItems, jsonCompletionContext, yamlCompletionContext, type CompletionEnv } from './completion';
import { hoverAt } from './hover';
import { LayerCache } from './layerCache';
import { memoryCodeLenses } from './memoryLens';
import { documentSymbols } from './symbols';

const connection = createConnection(ProposedFeatures.all);
const documents = new TextDocuments(TextDocument);
const layers = new LayerCache(readModelLayers);
const analyses = new Map<string, Analysis>();
const settingsCache = new Map<string, Promise<RunConfigSettings>>();
const timers = new Map<string, NodeJS.Timeout>();

let canReadSettings = false;
let canWatchSettings = false;
let snippets = false;
let canRefreshLenses = false;

/** Typing pauses shorter than this are one change (file and model reads are not free). */
const DEBOUNCE_MS = 75;

function log(message: string): void {
  connection.console.error(`[spruft-config] ${message}`);
}

function settingsFor(uri: string): Promise<RunConfigSettings> {
  if (!canReadSettings) return Promise.resolve(DEFAULT_CHECK_SETTINGS);
  let found = settingsCache.get(uri);
  if (!found) {
    found = connection.workspace.getConfiguration({ scopeUri: uri, section: CHECK_SETTINGS_SECTION }).then(readCheckSettings, () => DEFAULT_CHECK_SETTINGS);
    settingsCache.set(uri, found);
  }
  return found;
}

const SEVERITY: Record<ConfigDiagnostic['severity'], DiagnosticSeverity> = {
  error: DiagnosticSeverity.Error,
  warning: DiagnosticSeverity.Warning,
  information: DiagnosticSeverity.Information,
};

function toDiagnostic(d: ConfigDiagnostic): Diagnostic {
  return { range: d.range, severity: SEVERITY[d.severity], code: d.code, source: 'spruft', message: d.message, data: { fixes: d.fixes ?? [] } };
}

async function validate(document: TextDocument): Promise<void> {
  const { uri, version } = document;
  try {
    const settings = await settingsFor(uri);
    const analysis = await analyze(uri, version, document.getText(), document.languageId, settings, layers.forDocument(uri));
    // A newer version is on its way; its own check will publish.
    if (documents.get(uri)?.version !== version) return;
    const before = analyses.get(uri)?.estimates;
    analyses.set(uri, analysis);
    await connection.sendDiagnostics({ uri, version, diagnostics: analysis.diagnostics.map(toDiagnostic) });
    // The estimate came or changed: the editor asks for the lenses again.
    if (JSON.stringify(before?.map((e) => e.peakBytes)) !== JSON.stringify(analysis.estimates.map((e) => e.peakBytes)) && canRefreshLenses) {
      void connection.sendRequest(CodeLensRefreshRequest.type).catch(() => undefined);
    }
  } catch (err) {
    log(`checking ${uri} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
}

function schedule(document: TextDocument): void {
  const uri = document.uri;
  clearTimeout(timers.get(uri));
  timers.set(
    uri,
    setTimeout(() => {
      timers.delete(uri);
      const current = documents.get(uri);
      if (current) void validate(current);
    }, DEBOUNCE_MS),
  );
}

function revalidateAll(): void {
  for (const document of documents.all()) schedule(document);
}

/** The parse of the document as it is now (the last check's when it is current). */
function parsedNow(document: TextDocument): ParsedRunConfig {
  const analysis = analyses.get(document.uri);
  if (analysis && analysis.version === document.version) return analysis.parsed;
  return parseRunConfig(document.getText(), document.languageId === 'json' ? 'json' : 'yaml');
}

function envFor(document: TextDocument): CompletionEnv | undefined {
  if (document.getText().length > MAX_CONFIG_CHARS) return undefined;
  const baseDir = baseDirOf(document.uri);
  return { parsed: parsedNow(document), ...(baseDir ? { baseDir } : {}), inspect: layers.forDocument(document.uri), snippets };
}

connection.onInitialize((params: InitializeParams): InitializeResult => {
  const caps = params.capabilities;
  canReadSettings = caps.workspace?.configuration === true;
  canWatchSettings = caps.workspace?.didChangeConfiguration?.dynamicRegistration === true;
  snippets = caps.textDocument?.completion?.completionItem?.snippetSupport === true;
  canRefreshLenses = caps.workspace?.codeLens?.refreshSupport === true;
  return {
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      completionProvider: { triggerCharacters: [':', ' ', '"', "'", '/', '.', '*', '[', ','] },
      hoverProvider: true,
      codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
      documentSymbolProvider: true,
      codeLensProvider: { resolveProvider: false },
    },
    serverInfo: { name: 'spruft-config', version: '0.1.0' },
  };
});

connection.onInitialized(() => {
  if (canWatchSettings) void connection.client.register(DidChangeConfigurationNotification.type, { section: CHECK_SETTINGS_SECTION });
});

connection.onDidChangeConfiguration(() => {
  settingsCache.clear();
  revalidateAll();
});

connection.onDidChangeWatchedFiles((params) => {
  for (const change of params.changes) {
    const path = filePathOf(change.uri);
    if (path) layers.dropFile(path);
  }
  revalidateAll();
});

documents.onDidChangeContent((event) => schedule(event.document));

documents.onDidClose((event) => {
  const uri = event.document.uri;
  clearTimeout(timers.get(uri));
  timers.delete(uri);
  analyses.delete(uri);
  settingsCache.delete(uri);
  layers.dropDocument(uri);
  void connection.sendDiagnostics({ uri, diagnostics: [] });
});

connection.onCompletion(async (params) => {
  try {
    const document = documents.get(params.textDocument.uri);
    const env = document && envFor(document);
    if (!document || !env) return null;
    const offset = document.offsetAt(params.position);
    const context = env.parsed.syntax === 'json' ? jsonCompletionContext(env.parsed, offset) : yamlCompletionContext(env.parsed.text, offset);
    return context ? { isIncomplete: false, items: await completionItems(context, env) } : null;
  } catch (err) {
    log(`completion failed: ${String(err)}`);
    return null;
  }
});

connection.onHover(async (params) => {
  try {
    const document = documents.get(params.textDocument.uri);
    const env = document && envFor(document);
    if (!document || !env) return null;
    return await hoverAt(env, document.offsetAt(params.position));
  } catch (err) {
    log(`hover failed: ${String(err)}`);
    return null;
  }
});

function isFixList(value: unknown): value is ConfigFix[] {
  return Array.isArray(value) && value.every((f) => typeof f === 'object' && f !== null && 'title' in f && 'range' in f && 'newText' in f);
}

connection.onCodeAction((params) => {
  const uri = params.textDocument.uri;
  const actions: CodeAction[] = [];
  for (const diagnostic of params.context.diagnostics) {
    if (diagnostic.source !== 'spruft') continue;
    const data = diagnostic.data as { fixes?: unknown } | undefined;
    // Clients that do not return `data` get the fixes of the last check at the same place.
    const fixes = isFixList(data?.fixes)
      ? data.fixes
      : (analyses.get(uri)?.diagnostics.find((d) => d.code === diagnostic.code && d.range.start.line === diagnostic.range.start.line && d.range.start.character === diagnostic.range.start.character)?.fixes ?? []);
    fixes.forEach((fix, index) => {
      actions.push({
        title: fix.title,
        kind: CodeActionKind.QuickFix,
        diagnostics: [diagnostic],
        isPreferred: index === 0,
        edit: { changes: { [uri]: [{ range: fix.range, newText: fix.newText }] } },
      });
    });
  }
  return actions;
});

connection.onCodeLens((params) => {
  const analysis = analyses.get(params.textDocument.uri);
  return analysis ? memoryCodeLenses(analysis.parsed, analysis.estimates) : [];
});

connection.onDocumentSymbol((params) => {
  const document = documents.get(params.textDocument.uri);
  if (!document || document.getText().length > MAX_CONFIG_CHARS) return [];
  try {
    return documentSymbols(parsedNow(document));
  } catch (err) {
    log(`symbols failed: ${String(err)}`);
    return [];
  }
});

process.on('uncaughtException', (err) => log(`uncaught: ${err.stack ?? err.message}`));
process.on('unhandledRejection', (err) => log(`unhandled: ${String(err)}`));

documents.listen(connection);
connection.listen();
