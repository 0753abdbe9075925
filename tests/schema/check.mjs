// tests/schema/check.mjs - checks schema/topology.schema.json with a real
// JSON Schema validator (Ajv, draft 2020-12) and its agreement with
// `pgconverge validate`.
//
//   node tests/schema/check.mjs                  the whole test (see run.sh)
//   node tests/schema/check.mjs --schema-only    skip the agreement half
//   node tests/schema/check.mjs FILE...          lint topology files with the schema
//
// Cases: examples/*.yaml and tests/schema/good/*.yaml must be valid;
// tests/schema/bad/*.yaml must be invalid, and each names the error it is
// about on its first line, so that a case cannot pass by failing for an
// unrelated reason:
//   # expect: /clusters/main/nodes/pg1/port maximum
//   # expect: parse                 (the YAML itself is refused)
// Then every case goes through `./pgconverge validate -f FILE`, which must
// exit 0 for valid files and 1 for invalid ones.

import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import Ajv2020 from "ajv/dist/2020.js";
import YAML from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const schemaPath = path.join(root, "schema", "topology.schema.json");

let passed = 0;
let failed = 0;

function pass(msg) {
	passed++;
	console.log(`ok      ${msg}`);
}

function fail(msg, details = []) {
	failed++;
	console.log(`FAIL    ${msg}`);
	for (const d of details)
		console.log(`        ${d}`);
}

function rel(file) {
	return path.relative(root, file);
}

function listYaml(dir) {
	if (!existsSync(dir))
		return [];
	return readdirSync(dir)
		.filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
		.sort()
		.map((f) => path.join(dir, f));
}

function compileSchema() {
	// strict: a typo in the schema (an unknown keyword) is an error. Not
	// strictRequired: `required` inside not/if names keys defined elsewhere.
	const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
	const schema = JSON.parse(readFileSync(schemaPath, "utf8"));
	return ajv.compile(schema);
}

// parseTopology - { data } or { parseError }. YAML 1.2 core schema, as
// editors read it; duplicate keys are errors, as in pgconverge.
function parseTopology(text) {
	const docs = YAML.parseAllDocuments(text, { version: "1.2", schema: "core", uniqueKeys: true, prettyErrors: true });
	if (!Array.isArray(docs) || docs.length === 0)
		return { parseError: "empty file" };
	if (docs.length > 1)
		return { parseError: "more than one YAML document" };
	const doc = docs[0];
	if (doc.errors.length > 0)
		return { parseError: doc.errors.map((e) => e.message.split("\n")[0]).join("; ") };
	return { data: doc.toJS({ maxAliasCount: 100 }) };
}

function describe(err) {
	let where = err.instancePath || "/";
	if (err.keyword === "additionalProperties")
		where += ` (key "${err.params.additionalProperty}")`;
	if (err.propertyName !== undefined)
		where += ` (name "${err.propertyName}")`;
	const msg = err.message.length > 100 ? `${err.message.slice(0, 97)}...` : err.message;
	return `${where}: ${err.keyword}: ${msg}`;
}

// schemaVerdict - { valid, errors: [ajv errors], parseError }
function schemaVerdict(validate, file) {
	const parsed = parseTopology(readFileSync(file, "utf8"));
	if (parsed.parseError !== undefined)
		return { valid: false, errors: [], parseError: parsed.parseError };
	const valid = validate(parsed.data);
	return { valid, errors: valid ? [] : validate.errors.slice() };
}

function expectation(file) {
	const first = readFileSync(file, "utf8").split("\n")[0];
	const m = /^#\s*expect:\s*(\S+)(?:\s+(\S+))?\s*$/.exec(first);
	if (!m)
		return null;
	return { where: m[1], keyword: m[2] };
}

function checkGood(validate, file) {
	const v = schemaVerdict(validate, file);
	if (v.parseError !== undefined)
		fail(`schema  ${rel(file)}: valid case does not parse`, [v.parseError]);
	else if (!v.valid)
		fail(`schema  ${rel(file)}: valid case refused`, v.errors.slice(0, 8).map(describe));
	else
		pass(`schema  ${rel(file)}`);
	return true;
}

function checkBad(validate, file) {
	const exp = expectation(file);
	if (exp === null) {
		fail(`schema  ${rel(file)}: first line must be "# expect: /json/pointer keyword" or "# expect: parse"`);
		return false;
	}
	const v = schemaVerdict(validate, file);
	if (v.valid) {
		fail(`schema  ${rel(file)}: invalid case accepted`);
		return false;
	}
	if (exp.where === "parse") {
		if (v.parseError !== undefined)
			pass(`schema  ${rel(file)}: parse error: ${v.parseError}`);
		else
			fail(`schema  ${rel(file)}: expected a YAML parse error, got schema errors`, v.errors.slice(0, 8).map(describe));
		return false;
	}
	if (v.parseError !== undefined) {
		fail(`schema  ${rel(file)}: expected ${exp.where} ${exp.keyword}, got a parse error`, [v.parseError]);
		return false;
	}
	const want = exp.where === "/" ? "" : exp.where;
	const hit = v.errors.find((e) => e.instancePath === want && e.keyword === exp.keyword);
	if (hit)
		pass(`schema  ${rel(file)}: ${describe(hit)}`);
	else
		fail(`schema  ${rel(file)}: expected ${exp.where} ${exp.keyword}, got other errors`,
		     v.errors.slice(0, 8).map(describe));
	return false;
}

// checkAgreement - `pgconverge validate -f FILE` must give the same verdict.
function checkAgreement(binary, file, expectValid) {
	const want = expectValid ? 0 : 1;
	const r = spawnSync(binary, ["validate", "-f", rel(file)], {
		cwd: root,
		encoding: "utf8",
		timeout: 30000,
		stdio: ["ignore", "pipe", "pipe"],
	});
	if (r.error) {
		fail(`agree   ${rel(file)}: cannot run ${rel(binary)}: ${r.error.message}`);
		return;
	}
	const got = r.status === null ? `killed by ${r.signal}` : `exit ${r.status}`;
	if (r.status === want) {
		pass(`agree   ${rel(file)}: ${got}`);
		return;
	}
	const output = `${r.stderr || ""}${r.stdout || ""}`.trim().split("\n").filter((l) => l !== "").slice(0, 6);
	fail(`agree   ${rel(file)}: schema says ${expectValid ? "valid" : "invalid"}, pgconverge validate says ${got} (want exit ${want})`,
	     output);
}

function lint(validate, files) {
	let bad = 0;
	for (const f of files) {
		const v = schemaVerdict(validate, f);
		if (v.valid) {
			console.log(`${f}: valid`);
			continue;
		}
		bad++;
		if (v.parseError !== undefined)
			console.log(`${f}: ${v.parseError}`);
		for (const e of v.errors)
			console.log(`${f}: ${describe(e)}`);
	}
	return bad === 0 ? 0 : 1;
}

function main(argv) {
	let schemaOnly = false;
	let binary = path.join(root, "pgconverge");
	const files = [];
	for (let i = 0; i < argv.length; i++) {
		if (argv[i] === "--schema-only")
			schemaOnly = true;
		else if (argv[i] === "--pgconverge" && i + 1 < argv.length)
			binary = path.resolve(argv[++i]);
		else if (argv[i].startsWith("-")) {
			console.error(`check.mjs: unknown option "${argv[i]}"`);
			return 64;
		} else
			files.push(argv[i]);
	}

	let validate;
	try {
		validate = compileSchema();
	} catch (e) {
		console.log(`FAIL    schema  ${rel(schemaPath)} does not compile: ${e.message}`);
		console.log("0 passed, 1 failed");
		return 1;
	}
	if (files.length > 0)
		return lint(validate, files);
	pass(`schema  ${rel(schemaPath)} compiles (draft 2020-12, strict)`);

	const good = [...listYaml(path.join(root, "examples")), ...listYaml(path.join(here, "good"))];
	const bad = listYaml(path.join(here, "bad"));
	if (good.length < 15 + 3 || bad.length < 25)
		fail(`cases   need at least 15 good and 25 bad files, found ${good.length} good (with examples) and ${bad.length} bad`);

	for (const f of good)
		checkGood(validate, f);
	for (const f of bad)
		checkBad(validate, f);

	if (!schemaOnly) {
		if (!existsSync(binary)) {
			fail(`agree   ${rel(binary)} not found: build it with "make" (the agreement half needs it)`);
		} else {
			for (const f of good)
				checkAgreement(binary, f, true);
			for (const f of bad)
				checkAgreement(binary, f, false);
		}
	}

	console.log(`${passed} passed, ${failed} failed`);
	return failed === 0 ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
