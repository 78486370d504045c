// hugo5379.cc — GoKer Hugo5379 (gohugoio/hugo#5379; Go:
// testgoroutineleakprofile/goker/hugo5379.go). Flaky.
//
// A page renderer (G3) initialises a page's content once (contentInit, O2):
// it starts a goroutine (initContent.func1.1, G2) that takes contentInitMu
// (L1) and renders the page's shortcodes, and waits for it at most 1 ms.
// The shortcode asks for the page's word count, which goes through
// initContent again (G2 waits for O2 until G3's timeout) and then through
// plainInit (O4), whose function locks L1 — held by G2 itself. Whichever of
// G2 and the renderers enters O4 first waits for L1, the others for O4's
// mutex: G2 and both renderers are stuck, and the copy's goroutine (func2)
// waits for the renderers on its WaitGroup.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "leakcase.h"

namespace leakcases {
namespace {

using namespace std::chrono_literals;

using error_hugo5379 = std::optional<std::string>;  // Go's error; nullopt is nil

struct Page_hugo5379;
struct PageWithoutContent_hugo5379;

std::map<int, std::function<error_hugo5379()>> createShortcodeRenderers_hugo5379(
    PageWithoutContent_hugo5379* p);

struct shortcodeHandler_hugo5379 {
  PageWithoutContent_hugo5379* p = nullptr;
  std::map<int, std::function<error_hugo5379()>> contentShortcodes;
  std::map<int, std::function<error_hugo5379()>> contentShortcodesDelta;
  stray::Once init{};  // O1

  error_hugo5379 executeShortcodesForDelta(PageWithoutContent_hugo5379* p) {
    for (auto& [k, _] : contentShortcodesDelta) {
      std::function<error_hugo5379()> render = contentShortcodesDelta[k];
      if (error_hugo5379 err = render()) continue;
    }
    return std::nullopt;
  }

  void updateDelta();
};

struct pageInit_hugo5379 {
  stray::Once withoutContentInit;
};

struct pageContentInit_hugo5379 {
  stray::Once contentInit;  // O3
  stray::Once plainInit;    // O4
};

struct Page_hugo5379 {
  pageInit_hugo5379* pageInit = nullptr;                // Go: embeds *pageInit_hugo5379
  pageContentInit_hugo5379* pageContentInit = nullptr;  // Go: embeds *pageContentInit_hugo5379
  PageWithoutContent_hugo5379* pageWithoutContent = nullptr;
  stray::Once contentInit{};     // O2 (Go: shadows the embedded O3, which nothing uses)
  stray::Mutex contentInitMu{};  // L1
  shortcodeHandler_hugo5379* shortcodeState = nullptr;

  void WordCount() { initContentPlainAndMeta(); }

  void initContentPlainAndMeta() {
    initContent();
    initPlain(true);
  }

  void initPlain(bool lock) {
    pageContentInit->plainInit.call([this, lock] {
      if (lock) {
        // Double locking here.
        contentInitMu.lock();
        Defer d{[this] { contentInitMu.unlock(); }};
      }
    });
  }

  PageWithoutContent_hugo5379* withoutContent();

  error_hugo5379 prepareForRender();

  void setContentInit() { shortcodeState->updateDelta(); }

  void initContent() {
    contentInit.call([this] {
      auto cancellable = stray::with_timeout(stray::background(), 1ms);
      stray::Context& ctx = cancellable.first;
      Defer d{[&cancellable] { cancellable.second(); }};  // Go: defer cancel()
      auto c = stray::make_chan<error_hugo5379>(1);

      stray::go([this, c] {  // G2
        error_hugo5379 err;
        contentInitMu.lock();  // first lock here
        Defer unlock{[this] { contentInitMu.unlock(); }};

        err = prepareForRender();
        if (err) {
          c.send(err);
          return;
        }
        c.send(err);
      });

      stray::select(stray::recv_case(ctx.done()), stray::recv_case(c));
    });
  }
};

struct PageWithoutContent_hugo5379 {
  Page_hugo5379* page = nullptr;  // Go: embeds *Page_hugo5379

  // Go's promoted methods and fields.
  void WordCount() { page->WordCount(); }
  PageWithoutContent_hugo5379* withoutContent() { return page->withoutContent(); }
  shortcodeHandler_hugo5379* shortcodeState() const { return page->shortcodeState; }
};

PageWithoutContent_hugo5379* Page_hugo5379::withoutContent() {
  pageInit->withoutContentInit.call(
      [this] { pageWithoutContent = new PageWithoutContent_hugo5379{this}; });
  return pageWithoutContent;
}

error_hugo5379 handleShortcodes_hugo5379(PageWithoutContent_hugo5379* p);

error_hugo5379 Page_hugo5379::prepareForRender() {
  if (error_hugo5379 err = handleShortcodes_hugo5379(withoutContent())) return err;
  return std::nullopt;
}

void shortcodeHandler_hugo5379::updateDelta() {
  init.call([this] { contentShortcodes = createShortcodeRenderers_hugo5379(p->withoutContent()); });

  std::map<int, std::function<error_hugo5379()>> delta;

  for (auto& [k, v] : contentShortcodes) {
    if (!delta.contains(k)) delta[k] = v;
  }

  contentShortcodesDelta = delta;
}

using Pages_hugo5379 = std::vector<Page_hugo5379*>;

struct PageCollections_hugo5379 {
  Pages_hugo5379 Pages;
};

struct Site_hugo5379 {
  PageCollections_hugo5379* pageCollections = nullptr;  // Go: embeds *PageCollections_hugo5379

  void preparePagesForRender() {
    for (Page_hugo5379* p : pageCollections->Pages) p->setContentInit();
  }

  void renderForLayouts() {
    // Omit reflections
    for (Page_hugo5379* p : pageCollections->Pages) p->WordCount();
  }

  void renderAndWritePage() { renderForLayouts(); }

  void renderPages();
};

void pageRenderer_hugo5379(Site_hugo5379* s, stray::WaitGroup* wg) {
  Defer d{[wg] { wg->done(); }};
  s->renderAndWritePage();
}

void Site_hugo5379::renderPages() {
  int numWorkers = 2;
  auto* wg = new stray::WaitGroup;  // Go: &sync.WaitGroup{}, passed to the goroutines

  for (int i = 0; i < numWorkers; i++) {
    wg->add(1);
    stray::go(pageRenderer_hugo5379, this, wg);  // G3
  }

  wg->wait();
}

struct HugoSites_hugo5379 {
  std::vector<Site_hugo5379*> Sites;

  void render() {
    for (Site_hugo5379* s : Sites) {
      for (Site_hugo5379* s2 : Sites) s2->preparePagesForRender();
      s->renderPages();
    }
  }

  void Build() { render(); }
};

// Returns Go's (*HugoSites_hugo5379, error).
std::pair<HugoSites_hugo5379*, error_hugo5379> newHugoSites_hugo5379(
    std::vector<Site_hugo5379*> sites) {
  auto* h = new HugoSites_hugo5379{std::move(sites)};
  return {h, std::nullopt};
}

Site_hugo5379* newSite_hugo5379() {
  auto* c = new PageCollections_hugo5379{};
  return new Site_hugo5379{c};
}

std::vector<Site_hugo5379*> createSitesFromConfig_hugo5379() {
  std::vector<Site_hugo5379*> sites;

  Site_hugo5379* s = newSite_hugo5379();
  sites.push_back(s);
  return sites;
}

std::pair<HugoSites_hugo5379*, error_hugo5379> NewHugoSites_hugo5379() {
  std::vector<Site_hugo5379*> sites = createSitesFromConfig_hugo5379();
  return newHugoSites_hugo5379(std::move(sites));
}

struct sitesBuilder_hugo5379 {
  HugoSites_hugo5379* H = nullptr;

  sitesBuilder_hugo5379* Build() { return build(); }

  sitesBuilder_hugo5379* build() {
    H->Build();
    return this;
  }

  error_hugo5379 CreateSitesE() {
    auto [sites, err] = NewHugoSites_hugo5379();
    if (err) return err;
    H = sites;
    return std::nullopt;
  }

  sitesBuilder_hugo5379* CreateSites() {
    if (error_hugo5379 err = CreateSitesE()) {  // Go: log.Fatalf
      std::fprintf(stderr, "Failed to create sites: %s\n", err->c_str());
      std::exit(1);
    }
    return this;
  }
};

error_hugo5379 renderShortcodeWithPage_hugo5379(PageWithoutContent_hugo5379* p) {
  // Omit reflections
  p->WordCount();
  return std::nullopt;
}

error_hugo5379 renderShortcode_hugo5379(PageWithoutContent_hugo5379* p) {
  return renderShortcodeWithPage_hugo5379(p);
}

std::map<int, std::function<error_hugo5379()>> prepareShortcodeForPage_hugo5379(
    PageWithoutContent_hugo5379* p) {
  std::map<int, std::function<error_hugo5379()>> m;
  m[0] = [p] { return renderShortcode_hugo5379(p); };
  return m;
}

std::map<int, std::function<error_hugo5379()>> createShortcodeRenderers_hugo5379(
    PageWithoutContent_hugo5379* p) {
  return prepareShortcodeForPage_hugo5379(p);
}

shortcodeHandler_hugo5379* newShortcodeHandler_hugo5379(Page_hugo5379* p) {
  return new shortcodeHandler_hugo5379{
      .p = p->withoutContent(),
      .contentShortcodes = {},
      .contentShortcodesDelta = {},
  };
}

error_hugo5379 handleShortcodes_hugo5379(PageWithoutContent_hugo5379* p) {
  return p->shortcodeState()->executeShortcodesForDelta(p);
}

void Hugo5379() {
  for (int i = 0; i < 100; i++) {
    stray::go([] {  // G1
      sitesBuilder_hugo5379
          builder;  // Go: &sitesBuilder_hugo5379{}, kept on this frame by escape analysis
      sitesBuilder_hugo5379* b = &builder;
      sitesBuilder_hugo5379* s = b->CreateSites();
      for (Site_hugo5379* site : s->H->Sites) {
        auto* p = new Page_hugo5379{
            .pageInit = new pageInit_hugo5379{},
            .pageContentInit = new pageContentInit_hugo5379{},
            .pageWithoutContent = new PageWithoutContent_hugo5379{},
            .shortcodeState = nullptr,
        };
        p->shortcodeState = newShortcodeHandler_hugo5379(p);
        site->pageCollections->Pages.push_back(p);
      }
      s->Build();
    });
  }
}

constexpr const char* kInitContentFunc11 =
    R"(Page_hugo5379::initContent\(\)::\{lambda[^}]*\}::operator\(\)[^:]*)"
    R"(::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.Mutex\.Lock\])";
constexpr const char* kPageRenderer = R"(pageRenderer_hugo5379(\([^{]*\))? \[sync\.Mutex\.Lock\])";
constexpr const char* kFunc2 =
    R"(Hugo5379\(\)::\{lambda[^}]*\}::operator\(\)[^:]* \[sync\.WaitGroup\.Wait\])";

LEAK_CASE({.name = "Hugo5379",
           .kind = Kind::flaky,
           .run = Hugo5379,
           .expected = {kInitContentFunc11, kPageRenderer, kFunc2},
           .settle = 100ms});

}  // namespace
}  // namespace leakcases
