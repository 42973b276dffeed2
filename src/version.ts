/** The tool version recorded in manifests: package.json's, inlined by the bundler. */
import packageJson from '../package.json' with { type: 'json' };

export const TOOL_VERSION: string = packageJson.version;
