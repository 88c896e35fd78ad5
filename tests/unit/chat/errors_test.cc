// Errors and hostile templates: every failure is a TemplateError with a clear
// message, never a crash, hang or stack overflow.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "chat/chat_template.h"

namespace tessera::chat {
namespace {

// The message of the TemplateError `source` raises (fails the test when it
// renders or throws anything else).
std::string error_of(const std::string& source, const RenderLimits& limits = {},
                     const nlohmann::json& messages = nlohmann::json::array()) {
  try {
    ChatTemplate(source).render(messages, false, "", "", nlohmann::json::object(), limits);
  } catch (const TemplateError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for: " << source.substr(0, 200);
  return "";
}

TEST(ChatErrors, SyntaxErrorsNameLineAndColumn) {
  EXPECT_EQ(error_of("{% if %}"), "template syntax error at line 1, column 7: unexpected '%}'");
  EXPECT_EQ(error_of("ok\n{{ messages[0] }\n"), "template syntax error at line 2, column 1: unterminated expression (missing '}}')");
  EXPECT_EQ(error_of("a\n\n  {% for m in messages %}"),
            "template syntax error at line 3, column 26: unexpected end of template: missing '{% endfor %}'");
  EXPECT_EQ(error_of("{% endif %}"), "template syntax error at line 1, column 4: unknown or unsupported tag 'endif'");
  EXPECT_EQ(error_of("{{ 'abc }}"), "template syntax error at line 1, column 4: unterminated string literal");
  EXPECT_EQ(error_of("{% break %}"), "template syntax error at line 1, column 4: 'break' outside of a loop");
  EXPECT_EQ(error_of("{{ 1 $ 2 }}"), "template syntax error at line 1, column 6: unexpected character '$'");
  EXPECT_EQ(error_of("{# never closed"), "template syntax error at line 1, column 1: unterminated comment (missing '#}')");
  EXPECT_EQ(error_of("{% include 'x' %}"), "template syntax error at line 1, column 4: unknown or unsupported tag 'include'");
}

TEST(ChatErrors, RuntimeErrorsNameTheProblem) {
  EXPECT_EQ(error_of("x\n{{ undefined_function() }}"),
            "template error at line 2, column 4: 'undefined_function' is undefined (called as a function)");
  EXPECT_EQ(error_of("{{ messages | no_such_filter }}"), "template error at line 1, column 13: no filter named 'no_such_filter'");
  EXPECT_EQ(error_of("{{ 1 is no_such_test }}"), "template error at line 1, column 6: no test named 'no_such_test'");
  EXPECT_EQ(error_of("{{ 'a' + 1 }}"), "template error at line 1, column 8: unsupported operand type(s) for +: 'str' and 'int'");
  EXPECT_EQ(error_of("{{ x.y.z }}"), "template error at line 1, column 5: 'x' is undefined (reading attribute 'y')");
  EXPECT_EQ(error_of("{{ 1 // 0 }}"), "template error at line 1, column 6: integer division or modulo by zero");
  EXPECT_EQ(error_of("{% for x in 5 %}{% endfor %}"), "template error at line 1, column 4: 'int' object is not iterable");
  EXPECT_EQ(error_of("{{ 9223372036854775807 + 1 }}"), "template error at line 1, column 24: integer overflow");
}

TEST(ChatErrors, RaiseExceptionCarriesTheTemplatesMessage) {
  const std::string source = "{% if messages[0].role != 'user' %}{{ raise_exception('First message must be from the user') }}{% endif %}ok";
  try {
    render_chat_template(source, nlohmann::json::parse(R"([{"role": "assistant", "content": "x"}])"), false, "", "");
    FAIL() << "expected TemplateRaised";
  } catch (const TemplateRaised& e) {
    EXPECT_STREQ(e.what(), "First message must be from the user");
  }
  EXPECT_EQ(render_chat_template(source, nlohmann::json::parse(R"([{"role": "user", "content": "x"}])"), false, "", ""), "ok");
  // TemplateRaised is a TemplateError is a tessera::Error.
  EXPECT_THROW(render_chat_template("{{ raise_exception('no') }}", nlohmann::json::array(), false, "", ""), Error);
}

TEST(ChatErrors, BadArguments) {
  EXPECT_EQ(error_of("x", {}, nlohmann::json::object()), "chat template: messages must be a JSON array");
  EXPECT_THROW(render_chat_template("x", nlohmann::json::array(), false, "", "", nlohmann::json::array()), TemplateError);
}

TEST(ChatErrors, LimitsStopRunawayTemplates) {
  EXPECT_NE(error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
                .find("evaluation budget"),
            std::string::npos);
  EXPECT_NE(error_of("{{ 'x' * 100000000000 }}").find("exceeds the 16777216-byte limit"), std::string::npos);
  EXPECT_NE(error_of("{{ range(10000000000) }}").find("exceeds the limit"), std::string::npos);
  RenderLimits small;
  small.max_output_bytes = 1000;
  EXPECT_NE(error_of("{% for i in range(1000) %}xx{% endfor %}", small).find("output exceeds the limit of 1000 bytes"),
            std::string::npos);
  // A string doubled in a loop hits the string limit or the budget, not memory.
  EXPECT_NE(error_of("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"),
            "");
}

TEST(ChatErrors, DeepNestingIsRefusedNotOverflowed) {
  EXPECT_NE(error_of("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}").find("nested deeper"),
            std::string::npos);
  std::string chain = "{{ 1";
  for (int i = 0; i < 100000; ++i) chain += "+1";
  EXPECT_NE(error_of(chain + " }}").find("nested deeper"), std::string::npos);
  std::string filters = "{{ 'x'";
  for (int i = 0; i < 100000; ++i) filters += "|trim";
  EXPECT_NE(error_of(filters + " }}").find("nested deeper"), std::string::npos);
  std::string ifs;
  for (int i = 0; i < 5000; ++i) ifs += "{% if true %}";
  EXPECT_NE(error_of(ifs).find("nested deeper"), std::string::npos);
  // Recursive macros stop at the call depth limit.
  EXPECT_NE(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("nested deeper than 32 calls"),
            std::string::npos);
  // Deeply nested message data.
  nlohmann::json deep = nlohmann::json::array();
  for (int i = 0; i < 1000; ++i) deep = nlohmann::json::array({deep});
  EXPECT_NE(error_of("{{ messages }}", {}, deep).find("nested deeper"), std::string::npos);
}

TEST(ChatErrors, SelfReferencingNamespaceIsAnErrorNotACrash) {
  EXPECT_NE(error_of("{% set ns = namespace(a=1) %}{% set ns.self = [ns] %}{{ ns }}").find("nested deeper"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(a=1) %}{% set ns.self = [ns] %}{{ ns.self | tojson }}").find("not JSON serializable"),
            std::string::npos);
  // Namespaces compare by identity, so a cycle is harmless here.
  EXPECT_EQ(render_chat_template("{% set ns = namespace(a=1) %}{% set ns.self = ns %}{{ ns == ns.self.self }}",
                                 nlohmann::json::array(), false, "", ""),
            "True");
}

// Random token soup: each template either renders or raises TemplateError.
TEST(ChatErrors, RandomTemplatesNeverCrash) {
  const std::vector<std::string> pieces = {
      "{{", "}}", "{%", "%}", "{#", "#}", "-", "+", " ", "\n", "if", "else", "elif", "endif", "for", "in", "endfor",
      "set", "=", "ns", "namespace(", ")", "(", "[", "]", "{", "}", ":", ",", ".", "|", "trim", "length", "tojson",
      "messages", "loop", "index", "x", "'s'", "\"q\"", "1", "-1", "2.5", "not", "and", "or", "is", "defined", "~",
      "*", "**", "//", "%", "==", "!=", "<", "macro", "endmacro", "range(", "raise_exception(", "items()", "[::-1]"};
  std::mt19937 rng(1234);
  const nlohmann::json messages = nlohmann::json::parse(R"([{"role": "user", "content": "hi"}])");
  int rendered = 0, rejected = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string source;
    const int n = 1 + static_cast<int>(rng() % 24);
    for (int i = 0; i < n; ++i) source += pieces[rng() % pieces.size()];
    try {
      ChatTemplate(source).render(messages, true, "<s>", "</s>");
      ++rendered;
    } catch (const TemplateError&) {
      ++rejected;
    }
  }
  EXPECT_EQ(rendered + rejected, 3000);
  EXPECT_GT(rendered, 0);
  EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace tessera::chat
