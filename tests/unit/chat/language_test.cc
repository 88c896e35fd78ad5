// The template language feature by feature. Expected strings are what
// Python's jinja2 (trim_blocks, lstrip_blocks, as transformers configures it)
// renders for the same snippets; tests/python/test_chat_template.py checks
// many more against jinja2 itself.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "chat/lexer.h"
#include "chat/value.h"

namespace tessera::chat {
namespace {

std::string render(const std::string& source, const nlohmann::ordered_json& variables = nlohmann::ordered_json::object()) {
  return ChatTemplate(source).render(nlohmann::ordered_json::array(), false, "<s>", "</s>", variables);
}

TEST(ChatLanguage, WhitespaceControl) {
  EXPECT_EQ(render("a  {{- ' b ' -}}  c"), "a b c");
  // trim_blocks drops the newline after a block tag, lstrip_blocks the indentation before it.
  EXPECT_EQ(render("line1\n  {% if true %}\n    yes\n  {% endif %}\nend"), "line1\n    yes\nend");
  // `+` turns both off for one tag.
  EXPECT_EQ(render("x {%+ if true %}y{% endif +%}\nz"), "x y\nz");
  // Expression tags keep their newline; one trailing newline of the source is dropped.
  EXPECT_EQ(render("keep\n{{ 'v' }}\nnext\n"), "keep\nv\nnext");
  EXPECT_EQ(render("{# comment #}\nafter\n  {#- c2 -#}  tail"), "aftertail");
  EXPECT_EQ(render("a\r\nb\r\n"), "a\nb");
}

TEST(ChatLanguage, LiteralsAndOperators) {
  EXPECT_EQ(render("{{ 1 + 2 * 3 - 4 / 2 }}|{{ 7 // 2 }}|{{ -7 // 2 }}|{{ -7 % 3 }}|{{ 2 ** 10 }}"), "5.0|3|-4|2|1024");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none ~ true }}|{{ 'ab' * 3 }}|{{ [1] + [2, 3] }}"), "a1NoneTrue|ababab|[1, 2, 3]");
  EXPECT_EQ(render("{{ 1 == 1.0 }}{{ 1 < 2 < 3 }}{{ 3 < 2 < 4 }}{{ 'b' > 'a' }}"), "TrueTrueFalseTrue");
  EXPECT_EQ(render("{{ 'a' in 'cat' }}{{ 2 in [1, 2] }}{{ 'k' in {'k': 1} }}{{ 'z' not in 'cat' }}"), "TrueTrueTrueTrue");
  EXPECT_EQ(render("{{ true and 'x' }}{{ false or 'y' }}{{ not [] }}"), "xyTrue");
  EXPECT_EQ(render("{{ 'yes' if 1 > 0 else 'no' }}{{ 'never' if false }}|"), "yes|");
  EXPECT_EQ(render(R"({{ "esc\n\t\\ \" \' \u00e9 \x41" }}|{{ 'adj' 'acent' }})"), "esc\n\t\\ \" ' \xc3\xa9 A|adjacent");
}

TEST(ChatLanguage, PythonReprOfValues) {
  EXPECT_EQ(render("{{ 1.0 }}|{{ 0.1 + 0.2 }}|{{ 1e20 }}|{{ 1.5e-7 }}|{{ 100.0 * 3 }}"),
            "1.0|0.30000000000000004|1e+20|1.5e-07|300.0");
  EXPECT_EQ(render("{{ [1, 'a', none, {'k': 'v'}] }}|{{ (1, 2) }}|{{ ('x',) }}|{{ [\"it's\"] }}"),
            "[1, 'a', None, {'k': 'v'}]|(1, 2)|('x',)|[\"it's\"]");
}

TEST(ChatLanguage, SubscriptsSlicesAndCodePoints) {
  const nlohmann::ordered_json vars = {{"s", "h\xc3\xa9llo"}, {"l", {1, 2, 3}}};
  EXPECT_EQ(render("{{ s[1] }}|{{ s[::-1] }}|{{ s[-2:] }}|{{ s | length }}", vars), "\xc3\xa9|oll\xc3\xa9h|lo|5");
  EXPECT_EQ(render("{{ l[1:] }}{{ l[::-1] }}{{ l[5] is defined }}{{ l[-1] }}{{ l.0 }}", vars), "[2, 3][3, 2, 1]False31");
}

TEST(ChatLanguage, StringAndDictMethods) {
  EXPECT_EQ(render("[{{ '  pad \n'.strip() }}][{{ 'xxaxx'.strip('x') }}][{{ ' a '.lstrip() }}]"), "[pad][a][a ]");
  EXPECT_EQ(render("{{ 'a,b,,c'.split(',') }}{{ ' a  b '.split() }}{{ 'a b c'.split(' ', 1) }}"),
            "['a', 'b', '', 'c']['a', 'b']['a', 'b c']");
  EXPECT_EQ(render("{{ 'Hello'.startswith('He') }}{{ 'Hello'.endswith(('x', 'lo')) }}{{ 'aaa'.replace('a', 'b', 2) }}"),
            "TrueTruebba");
  const nlohmann::ordered_json vars = {{"d", {{"x", 1}, {"y", 2}}}};
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d.get('z', 'dflt') }}{{ d.keys() | list }}", vars),
            "x=1;y=2;dflt['x', 'y']");
}

TEST(ChatLanguage, Filters) {
  EXPECT_EQ(render("[{{ '  t  ' | trim }}]{{ [1, 2] | length }}{{ 'Ab' | upper }}{{ 'Ab' | lower }}"), "[t]2ABab");
  EXPECT_EQ(render("{{ x | default('d') }}{{ '' | default('d', true) }}{{ [3, 1] | first }}{{ [3, 1] | last }}"), "dd31");
  EXPECT_EQ(render("{{ [1, 2, 3] | join('-') }}{{ 'a-b' | replace('-', '+') }}{{ 42 | string }}{{ '5' | int + 1 }}"),
            "1-2-3a+b426");
  const nlohmann::ordered_json vars = {
      {"msgs", {{{"role", "user"}, {"content", "u1"}}, {{"role", "assistant"}, {"content", "a1"}}, {{"role", "user"}, {"content", "u2"}}}}};
  EXPECT_EQ(render("{{ msgs | selectattr('role', 'equalto', 'user') | map(attribute='content') | join(',') }}", vars), "u1,u2");
  EXPECT_EQ(render("{{ msgs | rejectattr('role', 'eq', 'user') | list | length }}", vars), "1");
  EXPECT_EQ(render("{{ [3, 1, 2] | sort }}{{ [1, 2, 2] | unique | list }}{{ [1, 2] | reverse | list }}{{ [1, 2] | sum }}"),
            "[1, 2, 3][1, 2][2, 1]3");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | items | list }}"), "[('b', 1), ('a', 2)]");
}

TEST(ChatLanguage, TojsonIsJsonDumpsWithoutAsciiEscaping) {
  const nlohmann::ordered_json vars = {{"v", {{"name", "x"}, {"args", {{"b", {1, 2}}, {"a", nlohmann::ordered_json::object()}}}}}};
  EXPECT_EQ(render("{{ v | tojson }}", vars), R"({"name": "x", "args": {"b": [1, 2], "a": {}}})");
  EXPECT_EQ(render("{{ v | tojson(indent=2) }}", vars),
            "{\n  \"name\": \"x\",\n  \"args\": {\n    \"b\": [\n      1,\n      2\n    ],\n    \"a\": {}\n  }\n}");
  EXPECT_EQ(render("{{ v | tojson(sort_keys=true) }}", vars), R"({"args": {"a": {}, "b": [1, 2]}, "name": "x"})");
  EXPECT_EQ(render("{{ '\xc3\xa9\"\\n' | tojson }}|{{ [1.0, none, true] | tojson }}"), "\"\xc3\xa9\\\"\\n\"|[1.0, null, true]");
}

TEST(ChatLanguage, Tests) {
  EXPECT_EQ(render("{{ x is defined }}{{ y is undefined }}{{ none is none }}{{ 's' is string }}{{ 1 is number }}",
                   {{"x", 1}}),
            "TrueTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ {} is mapping }}{{ [] is mapping }}{{ 's' is iterable }}{{ 1 is iterable }}{{ 's' is sequence }}"),
            "TrueFalseTrueFalseTrue");
  EXPECT_EQ(render("{{ 4 is even }}{{ 9 is divisibleby 3 }}{{ x is not none }}{{ 1 is equalto 1 }}", {{"x", 0}}),
            "TrueTrueTrueTrue");
}

TEST(ChatLanguage, LoopsAndScoping) {
  EXPECT_EQ(render("{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.first }}{{ loop.last }}"
                   "{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }};{% endfor %}",
                   {{"l", {"a", "b"}}}),
            "102TrueFalse2b;211FalseTrue2a;");
  EXPECT_EQ(render("{% for x in l if x > 1 %}{{ x }}{{ loop.length }}{% endfor %}|{% for x in [] %}x{% else %}none{% endfor %}",
                   {{"l", {1, 2, 3}}}),
            "2232|none");
  EXPECT_EQ(render("{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}"
                   "{{ x }}{% endfor %}"),
            "0134");
  // Assignments in a loop body do not survive the iteration; namespaces do.
  EXPECT_EQ(render("{% set x = 1 %}{% for i in range(3) %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}"), "1231");
  EXPECT_EQ(render("{% set ns = namespace(total=0) %}{% for i in range(4) %}{% set ns.total = ns.total + i %}{% endfor %}"
                   "{{ ns.total }}"),
            "6");
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set block %}inner {{ a }}{% endset %}[{{ block }}]"), "12[inner 1]");
}

TEST(ChatLanguage, MacrosAndGeneration) {
  EXPECT_EQ(render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} "
                   "{{ greet('B', punct='?') }}"),
            "Hi A! Hi B?");
  // transformers' {% generation %} marks assistant text; it renders its body.
  EXPECT_EQ(render("{% generation %}gen{% endgeneration %}"), "gen");
}

TEST(ChatLanguage, ContextVariables) {
  const nlohmann::json messages = {{{"role", "user"}, {"content", "hi"}}};
  EXPECT_EQ(render_chat_template("{{ bos_token }}{{ messages[0].content }}{{ eos_token }}{{ add_generation_prompt }}{{ tools }}",
                                 messages, true, "<s>", "</s>", {{"tools", {1}}}),
            "<s>hi</s>True[1]");
}

TEST(ChatLanguage, JsonKeyOrder) {
  // nlohmann::json sorts object keys; ordered_json keeps the caller's order.
  const std::string source = "{{ messages[0] | tojson }}";
  EXPECT_EQ(render_chat_template(source, nlohmann::json::parse(R"([{"role": "user", "content": "x"}])"), false, "", ""),
            R"({"content": "x", "role": "user"})");
  EXPECT_EQ(render_chat_template(source, nlohmann::ordered_json::parse(R"([{"role": "user", "content": "x"}])"), false, "",
                                 "", nlohmann::ordered_json::object()),
            R"({"role": "user", "content": "x"})");
}

TEST(ChatLanguage, ParsedTemplateRendersManyTimes) {
  const ChatTemplate chatml(
      "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
      "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}");
  const nlohmann::json one = {{{"role", "user"}, {"content", "a"}}};
  const nlohmann::json two = {{{"role", "system"}, {"content", "s"}}, {{"role", "user"}, {"content", "b"}}};
  EXPECT_EQ(chatml.render(one, true, "", ""), "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(chatml.render(two, false, "", ""), "<|im_start|>system\ns<|im_end|>\n<|im_start|>user\nb<|im_end|>\n");
  EXPECT_EQ(chatml.render(one, true, "", ""), "<|im_start|>user\na<|im_end|>\n<|im_start|>assistant\n");
}

}  // namespace
}  // namespace tessera::chat
