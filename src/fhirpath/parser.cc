#include "fhirpath/parser.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "fhirpath/functions.h"
#include "fhirpath/lexer.h"
#include "fhirpath/types.h"

namespace medlake::fhirpath {
namespace {

using AstPtr = std::unique_ptr<Ast>;

AstPtr MakeNode(AstKind kind, int column) {
  auto n = std::make_unique<Ast>();
  n->kind = kind;
  n->column = column;
  return n;
}

int DecimalScale(std::string_view text) {
  size_t dot = text.find('.');
  return dot == std::string_view::npos ? 0 : int(text.size() - dot - 1);
}

// Extracts a type specifier from a parsed argument (`Patient`, `FHIR.Patient`).
bool TypeFromAst(const Ast& a, TypeSpec& out) {
  if (a.kind == AstKind::kMember) {
    out.ns.clear();
    out.name = a.name;
    return true;
  }
  if (a.kind == AstKind::kInvoke && a.args[0]->kind == AstKind::kMember &&
      a.args[1]->kind == AstKind::kMember) {
    out.ns = a.args[0]->name;
    out.name = a.args[1]->name;
    return true;
  }
  return false;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : tokens_(std::move(tokens)) {}

  Result<AstPtr> ParseAll() {
    MEDLAKE_ASSIGN_OR_RETURN(AstPtr e, ParseBinary(0));
    if (Peek().kind != TokenKind::kEnd) return Error(Peek(), "unexpected '" + Peek().text + "'");
    return e;
  }

 private:
  const Token& Peek(size_t ahead = 0) const {
    size_t i = std::min(pos_ + ahead, tokens_.size() - 1);
    return tokens_[i];
  }
  const Token& Next() {
    const Token& t = tokens_[pos_];
    if (pos_ + 1 < tokens_.size()) ++pos_;
    return t;
  }
  bool IsSymbol(std::string_view s) const {
    return Peek().kind == TokenKind::kSymbol && Peek().text == s;
  }
  bool IsWord(std::string_view s) const {
    return Peek().kind == TokenKind::kIdentifier && Peek().text == s;
  }
  static Status Error(const Token& t, const std::string& what) {
    return InvalidArgument("FHIRPath syntax error at column " + std::to_string(t.column) + ": " +
                           (t.kind == TokenKind::kEnd ? "unexpected end of expression" : what));
  }
  Status Expect(std::string_view sym) {
    if (!IsSymbol(sym)) return Error(Peek(), "expected '" + std::string(sym) + "'");
    Next();
    return Status::Ok();
  }

  // Binary operator of precedence `level` at the current token, if any (0 = loosest).
  bool MatchOperator(int level, BinaryOp& op) {
    const Token& t = Peek();
    auto sym = [&](std::string_view s) { return t.kind == TokenKind::kSymbol && t.text == s; };
    auto word = [&](std::string_view s) { return t.kind == TokenKind::kIdentifier && t.text == s; };
    switch (level) {
      case 0:
        if (word("implies")) return op = BinaryOp::kImplies, true;
        break;
      case 1:
        if (word("or")) return op = BinaryOp::kOr, true;
        if (word("xor")) return op = BinaryOp::kXor, true;
        break;
      case 2:
        if (word("and")) return op = BinaryOp::kAnd, true;
        break;
      case 3:
        if (word("in")) return op = BinaryOp::kIn, true;
        if (word("contains")) return op = BinaryOp::kContains, true;
        break;
      case 4:
        if (sym("=")) return op = BinaryOp::kEq, true;
        if (sym("!=")) return op = BinaryOp::kNe, true;
        if (sym("~")) return op = BinaryOp::kEquiv, true;
        if (sym("!~")) return op = BinaryOp::kNotEquiv, true;
        break;
      case 5:
        if (sym("<")) return op = BinaryOp::kLt, true;
        if (sym(">")) return op = BinaryOp::kGt, true;
        if (sym("<=")) return op = BinaryOp::kLe, true;
        if (sym(">=")) return op = BinaryOp::kGe, true;
        break;
      case 6:
        if (sym("|")) return op = BinaryOp::kUnion, true;
        break;
      case 8:
        if (sym("+")) return op = BinaryOp::kPlus, true;
        if (sym("-")) return op = BinaryOp::kMinus, true;
        if (sym("&")) return op = BinaryOp::kConcat, true;
        break;
      case 9:
        if (sym("*")) return op = BinaryOp::kMul, true;
        if (sym("/")) return op = BinaryOp::kDiv, true;
        if (word("div")) return op = BinaryOp::kIntDiv, true;
        if (word("mod")) return op = BinaryOp::kMod, true;
        break;
      default:
        break;
    }
    return false;
  }

  Result<AstPtr> ParseBinary(int level) {
    if (level == 0) {
      // Nesting (parentheses, arguments, indexers) is bounded so that hostile expressions
      // cannot exhaust the stack of the parser or the evaluator.
      if (++depth_ > kMaxDepth) return Error(Peek(), "expression nested too deeply");
      auto result = ParseBinaryLevel(0);
      --depth_;
      return result;
    }
    return ParseBinaryLevel(level);
  }

  Result<AstPtr> ParseBinaryLevel(int level) {
    if (level == 7) return ParseTypeExpr();
    if (level == 10) return ParseUnary();
    MEDLAKE_ASSIGN_OR_RETURN(AstPtr left, ParseBinary(level + 1));
    BinaryOp op;
    int operators = 0;
    while (MatchOperator(level, op)) {
      if (++operators > kMaxChain) return Error(Peek(), "too many operators in a row");
      int column = Next().column;
      MEDLAKE_ASSIGN_OR_RETURN(AstPtr right, ParseBinary(level + 1));
      AstPtr n = MakeNode(AstKind::kBinary, column);
      n->op = op;
      n->args.push_back(std::move(left));
      n->args.push_back(std::move(right));
      left = std::move(n);
    }
    return left;
  }

  Result<TypeSpec> ParseTypeSpec() {
    TypeSpec spec;
    const Token& t = Peek();
    if (t.kind != TokenKind::kIdentifier && t.kind != TokenKind::kDelimited)
      return Error(t, "expected a type name");
    spec.name = Next().text;
    if (IsSymbol(".") &&
        (Peek(1).kind == TokenKind::kIdentifier || Peek(1).kind == TokenKind::kDelimited)) {
      Next();
      spec.ns = spec.name;
      spec.name = Next().text;
    }
    return spec;
  }

  Result<AstPtr> ParseTypeExpr() {
    MEDLAKE_ASSIGN_OR_RETURN(AstPtr left, ParseBinary(8));
    while (IsWord("is") || IsWord("as")) {
      const Token& t = Next();
      AstPtr n = MakeNode(t.text == "is" ? AstKind::kIs : AstKind::kAs, t.column);
      MEDLAKE_ASSIGN_OR_RETURN(n->type, ParseTypeSpec());
      n->args.push_back(std::move(left));
      left = std::move(n);
    }
    return left;
  }

  Result<AstPtr> ParseUnary() {
    if (IsSymbol("+") || IsSymbol("-")) {
      if (++unary_ > kMaxDepth) return Error(Peek(), "too many unary operators");
      const Token& t = Next();
      MEDLAKE_ASSIGN_OR_RETURN(AstPtr operand, ParseUnary());
      // Fold negative numeric literals so that -1.convertsToInteger() style applies to -1.
      if (t.text == "-" && operand->kind == AstKind::kLiteral && operand->literal.IsNumber()) {
        operand->literal.integer = -operand->literal.integer;
        operand->literal.decimal = -operand->literal.decimal;
        return operand;
      }
      AstPtr n = MakeNode(AstKind::kUnary, t.column);
      n->op = t.text == "-" ? BinaryOp::kMinus : BinaryOp::kPlus;
      n->args.push_back(std::move(operand));
      return n;
    }
    return ParsePostfix();
  }

  Result<AstPtr> ParsePostfix() {
    MEDLAKE_ASSIGN_OR_RETURN(AstPtr left, ParseTerm());
    for (int steps = 0;; ++steps) {
      if (steps > kMaxChain) return Error(Peek(), "path too long");
      if (IsSymbol(".")) {
        Next();
        const Token& t = Peek();
        if (t.kind != TokenKind::kIdentifier && t.kind != TokenKind::kDelimited)
          return Error(t, "expected a name after '.'");
        MEDLAKE_ASSIGN_OR_RETURN(AstPtr right, ParseNamed());
        AstPtr n = MakeNode(AstKind::kInvoke, right->column);
        n->args.push_back(std::move(left));
        n->args.push_back(std::move(right));
        left = std::move(n);
      } else if (IsSymbol("[")) {
        int column = Next().column;
        MEDLAKE_ASSIGN_OR_RETURN(AstPtr index, ParseBinary(0));
        MEDLAKE_RETURN_IF_ERROR(Expect("]"));
        AstPtr n = MakeNode(AstKind::kIndexer, column);
        n->args.push_back(std::move(left));
        n->args.push_back(std::move(index));
        left = std::move(n);
      } else {
        return left;
      }
    }
  }

  // Identifier or function call.
  Result<AstPtr> ParseNamed() {
    const Token& t = Next();
    if (t.kind == TokenKind::kIdentifier && IsSymbol("(")) {
      Next();
      AstPtr n = MakeNode(AstKind::kFunction, t.column);
      n->name = t.text;
      if (!IsSymbol(")")) {
        while (true) {
          MEDLAKE_ASSIGN_OR_RETURN(AstPtr arg, ParseBinary(0));
          n->args.push_back(std::move(arg));
          if (!IsSymbol(",")) break;
          Next();
        }
      }
      MEDLAKE_RETURN_IF_ERROR(Expect(")"));
      const FunctionDef* def = FindFunction(n->name, &n->function);
      if (def == nullptr) {
        return InvalidArgument("FHIRPath error at column " + std::to_string(t.column) +
                               ": unknown function '" + n->name + "'");
      }
      int argc = int(n->args.size());
      if (argc < def->min_args || argc > def->max_args) {
        return InvalidArgument("FHIRPath error at column " + std::to_string(t.column) +
                               ": wrong number of arguments for '" + n->name + "'");
      }
      if (def->type_argument && argc == 1) {
        if (!TypeFromAst(*n->args[0], n->type)) {
          return InvalidArgument("FHIRPath error at column " + std::to_string(t.column) + ": '" +
                                 n->name + "' expects a type name");
        }
        n->has_type_arg = true;
      }
      return n;
    }
    AstPtr n = MakeNode(AstKind::kMember, t.column);
    n->name = t.text;
    n->symbol = TypeModel::R4().Symbol(n->name);
    if (!n->name.empty() && std::isupper(static_cast<unsigned char>(n->name[0]))) {
      n->type_name = TypeModel::R4().Find(n->name);
    }
    return n;
  }

  Result<AstPtr> ParseTerm() {
    const Token& t = Peek();
    switch (t.kind) {
      case TokenKind::kNumber: {
        Next();
        AstPtr n = MakeNode(AstKind::kLiteral, t.column);
        int scale = DecimalScale(t.text);
        double value = std::strtod(t.text.c_str(), nullptr);
        if (!std::isfinite(value)) return Error(t, "number literal out of range");
        if (Peek().kind == TokenKind::kString) {
          n->literal = Item::Quantity(value, scale, Next().text);
        } else if (Peek().kind == TokenKind::kIdentifier && !CalendarUnit(Peek().text).empty()) {
          n->literal = Item::Quantity(value, scale, std::string(CalendarUnit(Next().text)));
        } else if (scale > 0) {
          n->literal = Item::Decimal(value, scale);
        } else {
          // An Integer literal beyond 64 bits is an error: strtoll clamped it.
          int64_t integer = 0;
          auto [end, ec] = std::from_chars(t.text.data(), t.text.data() + t.text.size(), integer);
          if (ec != std::errc() || end != t.text.data() + t.text.size()) {
            return Error(t, "integer literal out of range (beyond 64 bits)");
          }
          n->literal = Item::Integer(integer);
          n->literal.decimal = value;
        }
        return n;
      }
      case TokenKind::kString: {
        Next();
        AstPtr n = MakeNode(AstKind::kLiteral, t.column);
        n->literal = Item::String(t.text);
        return n;
      }
      case TokenKind::kTemporal: {
        Next();
        ValueKind kind;
        auto v = ParseTemporal(t.text, kind);
        if (!v) return Error(t, "invalid date/time literal '@" + t.text + "'");
        AstPtr n = MakeNode(AstKind::kLiteral, t.column);
        n->literal = Item::Temporal(kind, *v);
        return n;
      }
      case TokenKind::kVariable: {
        Next();
        AstPtr n = MakeNode(AstKind::kVariable, t.column);
        n->name = t.text;
        return n;
      }
      case TokenKind::kSpecial: {
        Next();
        AstKind kind;
        if (t.text == "this")
          kind = AstKind::kThis;
        else if (t.text == "index")
          kind = AstKind::kIndex;
        else if (t.text == "total")
          kind = AstKind::kTotal;
        else
          return Error(t, "unknown '$" + t.text + "'");
        return MakeNode(kind, t.column);
      }
      case TokenKind::kIdentifier:
        if (t.text == "true" || t.text == "false") {
          Next();
          AstPtr n = MakeNode(AstKind::kLiteral, t.column);
          n->literal = Item::Boolean(t.text == "true");
          return n;
        }
        return ParseNamed();
      case TokenKind::kDelimited:
        return ParseNamed();
      case TokenKind::kSymbol:
        if (t.text == "(") {
          Next();
          MEDLAKE_ASSIGN_OR_RETURN(AstPtr inner, ParseBinary(0));
          MEDLAKE_RETURN_IF_ERROR(Expect(")"));
          return inner;
        }
        if (t.text == "{") {
          Next();
          MEDLAKE_RETURN_IF_ERROR(Expect("}"));
          return MakeNode(AstKind::kEmpty, t.column);
        }
        return Error(t, "unexpected '" + t.text + "'");
      case TokenKind::kEnd:
        return Error(t, "");
    }
    return Error(t, "unexpected token");
  }

  static constexpr int kMaxDepth = 64;
  static constexpr int kMaxChain = 2000;

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int unary_ = 0;
};

// True when `step` (the right side of an invocation) returns empty for empty input without
// evaluating any argument: member navigation and these functions.
bool KeepsEmpty(const Ast& step) {
  if (step.kind == AstKind::kMember) return true;
  static constexpr std::string_view kFunctions[] = {"where",  "select", "first",  "last",    "tail",
                                                    "ofType", "as",     "single", "distinct"};
  return step.kind == AstKind::kFunction &&
         std::find(std::begin(kFunctions), std::end(kFunctions), step.name) != std::end(kFunctions);
}

// What evaluation would otherwise work out on every call: literal collections and the
// resolution of type specifiers.
void Precompute(Ast& node) {
  if (node.kind == AstKind::kLiteral) node.literal_value = Collection{node.literal};
  const std::string& t = node.type.name;
  node.type.system_name = t == "Boolean" || t == "String" || t == "Integer" || t == "Decimal" ||
                          t == "Date" || t == "DateTime" || t == "Time" || t == "Quantity";
  node.type.fhir_type = TypeModel::R4().Find(t);
  for (auto& arg : node.args) Precompute(*arg);
  if (node.kind == AstKind::kInvoke) {
    // The chain moves up from the left invocation, which is then evaluated only as part of
    // this one (or by recursion in strict mode).
    Ast& left = *node.args[0];
    if (left.kind == AstKind::kInvoke) {
      node.chain = std::move(left.chain);
      left.chain.clear();
    } else {
      node.chain = {&left};
    }
    node.chain.push_back(node.args[1].get());
    node.empty_tail = node.chain.size();
    while (node.empty_tail > 1 && KeepsEmpty(*node.chain[node.empty_tail - 1])) --node.empty_tail;
  }
}

}  // namespace

Result<std::unique_ptr<Ast>> ParseExpression(std::string_view source) {
  MEDLAKE_ASSIGN_OR_RETURN(std::vector<Token> tokens, Tokenize(source));
  Parser parser(std::move(tokens));
  MEDLAKE_ASSIGN_OR_RETURN(std::unique_ptr<Ast> ast, parser.ParseAll());
  Precompute(*ast);
  return ast;
}

}  // namespace medlake::fhirpath
