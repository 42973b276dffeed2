/** The tool version recorded in manifests; kept in step with package.json by scripts/bundle.mjs's check. */
export const TOOL_VERSION = '0.1.0';
