import assert from "node:assert/strict";
import {
  formatCheckWarning,
  isSecretKey,
  lintDockerfile,
  Linter,
  parseCheckConfig,
} from "./checks.ts";
import { parseDockerfile } from "./stages.ts";

function lint(text: string, check = ""): string[] {
  const linter = new Linter(parseCheckConfig(check));
  lintDockerfile(parseDockerfile(text), linter);
  return linter.warnings.map(formatCheckWarning);
}

Deno.test("build checks: BuildKit's rule names and messages", () => {
  const text = `ARG TAG=1
FROM busybox:\${TAGG} as Build
MAINTAINER joe
ENV API_TOKEN abc
LABEL a b
CMD echo one
CMD echo two
FROM build AS build
run true
FROM scratch AS scratch
ENTRYPOINT ["x"]
`;
  assert.deepEqual(lint(text), [
    "ConsistentInstructionCasing: Command 'run' should match the case of the command majority (uppercase) (line 9)",
    "FromAsCasing: 'as' and 'FROM' keywords' casing do not match (line 2)",
    "StageNameCasing: Stage name 'Build' should be lowercase (line 2)",
    "UndefinedArgInFrom: FROM argument 'TAGG' is not declared (did you mean TAG?) (line 2)",
    "MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (line 3)",
    'SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data (ENV "API_TOKEN") (line 4)',
    'LegacyKeyValueFormat: "ENV key=value" should be used instead of legacy "ENV key value" format (line 4)',
    'LegacyKeyValueFormat: "LABEL key=value" should be used instead of legacy "LABEL key value" format (line 5)',
    "JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 6)",
    "JSONArgsRecommended: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals (line 7)",
    "MultipleInstructionsDisallowed: Multiple CMD instructions should not be used in the same stage because only the last one will be used (line 6)",
    'DuplicateStageName: Duplicate stage name "build", stage names should be unique (line 8)',
    'ReservedStageName: Stage name should not use the same name as reserved stage "scratch" (line 10)',
  ]);
});

Deno.test("build checks: skip=, skip=all, error=true", () => {
  const text = "FROM busybox as base\nMAINTAINER joe\n";
  assert.deepEqual(lint(text, "skip=FromAsCasing"), [
    "MaintainerDeprecated: Maintainer instruction is deprecated in favor of using label (line 2)",
  ]);
  assert.deepEqual(lint(text, "skip=all"), []);
  const linter = new Linter(parseCheckConfig("skip=MaintainerDeprecated;error=true"));
  lintDockerfile(parseDockerfile(text), linter);
  assert.equal(linter.error()?.message, "lint violation found for rules: FromAsCasing");
  assert.equal(new Linter(parseCheckConfig("error=true")).error(), undefined);
  assert.throws(() => parseCheckConfig("error=maybe"), /error=true or error=false/);
  assert.throws(() => parseCheckConfig("skipp=x"), /Invalid check option "skipp"/);
});

Deno.test("isSecretKey: BuildKit's tokens, public allowed", () => {
  assert.ok(isSecretKey("AWS_SECRET_ACCESS_KEY"));
  assert.ok(isSecretKey("password"));
  assert.ok(!isSecretKey("PUBLIC_KEY"));
  assert.ok(!isSecretKey("KEYBOARD"));
});
