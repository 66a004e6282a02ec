//! The stylesheet and script, hand-written and embedded in the binary (mobile first: 360 px up,
//! a wider grid from 800 px). Both are tiny and cached by the browser for a day.

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::IntoResponse;

/// `GET /static/app.css`.
pub async fn css() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/css; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        CSS,
    )
}

/// `GET /static/app.js`.
pub async fn js() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        JS,
    )
}

/// `GET /static/chat.js`: the chat's script (the shop's `/chat` and the console's inbox).
pub async fn chat_js() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        CHAT_JS,
    )
}

const CSS: &str = r#"
*{box-sizing:border-box}
.chat-log{display:flex;flex-direction:column;gap:6px;min-height:240px;max-height:60vh;overflow-y:auto;background:#f6f7f9;border-radius:8px;padding:10px;margin:8px 0}
.msg{max-width:80%;padding:7px 10px;border-radius:10px;background:#fff;white-space:pre-wrap;word-break:break-word}
.msg .who{display:block;font-size:11px;color:#888}
.msg.mine{align-self:flex-end;background:#d3f9d8}
.msg.from-system{align-self:center;background:transparent;color:#666;font-size:12px}
.msg.pending{opacity:.6}
.msg.failed{border:1px solid #d9480f}
.msg img{max-width:200px;max-height:200px;display:block;border-radius:6px}
.msg .chat-card{display:block;border:1px solid #e1e4e8;border-radius:6px;padding:6px;color:inherit}
.chat-form textarea{width:100%}
.chat-console{display:grid;grid-template-columns:1fr;gap:12px}
.inbox-list{list-style:none;padding:0;margin:0}
.inbox-item{border-bottom:1px solid #eee;padding:6px 0}
.inbox-item.on{background:#eef6ff}
@media(min-width:1000px){.chat-console{grid-template-columns:240px 1fr 240px}}
.card:empty{display:none}
html{-webkit-text-size-adjust:100%}
body{margin:0;font:15px/1.5 -apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",sans-serif;color:#1f2328;background:#f5f6f7}
a{color:#0a7d4f;text-decoration:none}
.wrap{max-width:1100px;margin:0 auto;padding:0 12px}
header.top{background:#0a7d4f;color:#fff;position:sticky;top:0;z-index:5}
header.top .bar{display:flex;align-items:center;gap:8px;min-height:52px;flex-wrap:wrap}
header.top a{color:#fff}
.brand{font-weight:700;font-size:17px;white-space:nowrap}
.lang{border:1px solid rgba(255,255,255,.6);border-radius:4px;padding:1px 6px;font-size:13px}
form.search{flex:1;position:relative;min-width:140px}
form.search input{width:100%;border:0;border-radius:18px;padding:7px 14px;font-size:15px}
.suggest{position:absolute;left:0;right:0;top:38px;background:#fff;border-radius:8px;box-shadow:0 4px 16px rgba(0,0,0,.15);overflow:hidden}
header.top .suggest a,.suggest a{display:block;padding:8px 14px;color:#1f2328;border-bottom:1px solid #eee}
.suggest b{display:block;padding:6px 14px 2px;font-size:12px;color:#6b7280;font-weight:600}
main.wrap{padding-top:12px;padding-bottom:80px}
h1{font-size:20px;margin:8px 0 12px}
h2{font-size:17px;margin:16px 0 8px}
.muted{color:#6a737d;font-size:13px}
.card{background:#fff;border-radius:10px;padding:12px;margin-bottom:12px;box-shadow:0 1px 2px rgba(0,0,0,.05)}
.grid{display:grid;grid-template-columns:repeat(2,1fr);gap:10px}
.tile{background:#fff;border-radius:10px;padding:10px;display:flex;flex-direction:column;gap:4px;color:#1f2328;min-height:150px}
.tile .ph{height:72px;border-radius:8px;background:linear-gradient(135deg,#e3f4ec,#fdf3e1);display:flex;align-items:center;justify-content:center;font-size:26px;color:#0a7d4f}
.pic img{display:block;width:100%;height:auto;border-radius:8px;background:#f0f2f4;object-fit:cover}
.tile .pic{height:120px;overflow:hidden;border-radius:8px}
.tile .pic img{height:120px}
.gallery{display:flex;flex-wrap:wrap;gap:6px;margin-bottom:8px}
.gallery .pic{width:96px}
.gallery .pic.main{width:100%;max-width:320px}
.pic.small{display:inline-block;width:48px;vertical-align:middle}
.flash{background:#fff1f0;border:1px solid #ffa39e;border-radius:8px;padding:8px 10px;margin:8px 0;color:#a8071a}
.flash .countdown{font-variant-numeric:tabular-nums;font-weight:700}
.tile .name{font-size:14px;overflow:hidden;display:-webkit-box;-webkit-line-clamp:2;-webkit-box-orient:vertical}
.price{color:#d9480f;font-weight:700}
.price small{font-weight:400;color:#6a737d}
.chips{display:flex;gap:6px;flex-wrap:wrap;margin:6px 0}
.chip{background:#fff;border:1px solid #d0d7de;border-radius:14px;padding:3px 10px;font-size:13px;color:#1f2328}
.chip.on{background:#0a7d4f;border-color:#0a7d4f;color:#fff}
.btn{display:inline-block;background:#0a7d4f;color:#fff;border:0;border-radius:20px;padding:9px 18px;font-size:15px;cursor:pointer;text-align:center}
.btn.secondary{background:#fff;color:#0a7d4f;border:1px solid #0a7d4f}
.btn.warn{background:#c92a2a}
.btn.block{display:block;width:100%}
button.link{background:none;border:0;color:inherit;cursor:pointer;font:inherit;padding:0;text-decoration:underline}
form.inline{display:inline}
.field{margin-bottom:12px}
.field label{display:block;font-size:13px;color:#444;margin-bottom:3px}
.field input,.field select,.field textarea,select,textarea{width:100%;padding:9px 10px;border:1px solid #d0d7de;border-radius:8px;font-size:15px;background:#fff}
.field.has-error input{border-color:#c92a2a}
.field-error{color:#c92a2a;font-size:13px;margin:4px 0 0}
.notice{background:#fff8db;border:1px solid #f0d67a;border-radius:8px;padding:8px 12px;margin-bottom:12px}
.ok{background:#e6f6ee;border-color:#8fd3b0}
.err{background:#fff0f0;border-color:#f5a3a3;color:#8a1c1c}
table{width:100%;border-collapse:collapse;background:#fff;font-size:14px}
th,td{text-align:left;padding:7px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{background:#fafbfc;font-weight:600;font-size:13px;color:#444}
.table-wrap{overflow-x:auto;border-radius:8px}
.num{text-align:right;white-space:nowrap}
.badge{display:inline-block;background:#d9480f;color:#fff;border-radius:9px;font-size:11px;padding:0 6px;margin-left:2px}
.status{display:inline-block;border-radius:4px;padding:0 6px;font-size:12px;background:#eef1f4}
.status.ready_for_pickup,.status.paid{background:#e6f6ee;color:#0a7d4f}
.status.pending_payment{background:#fff4e6;color:#d9480f}
.status.cancelled{background:#f1f3f5;color:#868e96}
nav.tabs{position:fixed;bottom:0;left:0;right:0;background:#fff;border-top:1px solid #e1e4e8;display:flex;z-index:5}
nav.tabs a{flex:1;text-align:center;padding:9px 0 11px;font-size:12px;color:#444}
.qr{background:#fff;padding:12px;border-radius:12px;display:inline-block}
.qr svg{width:220px;height:220px;display:block}
.center{text-align:center}
.row{display:flex;gap:8px;align-items:center;flex-wrap:wrap}
.spread{display:flex;justify-content:space-between;align-items:center;gap:8px}
.qty{width:64px!important;display:inline-block}
.bars .bar{display:flex;align-items:center;gap:8px;margin:4px 0;font-size:13px}
.bars .bar span.l{width:150px;flex:none;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.bars .bar i{display:block;height:14px;background:#0a7d4f;border-radius:3px;min-width:2px}
.kpis{display:grid;grid-template-columns:repeat(2,1fr);gap:10px;margin-bottom:12px}
.kpi{background:#fff;border-radius:10px;padding:12px}
.kpi b{display:block;font-size:22px}
.fullscreen{position:fixed;inset:0;background:#0a7d4f;color:#fff;display:flex;flex-direction:column;align-items:center;justify-content:center;gap:12px;z-index:10;padding:16px;text-align:center}
.fullscreen .qr svg{width:min(80vw,360px);height:min(80vw,360px)}
.error-page{padding-top:40px;text-align:center}
.console nav.side{display:flex;gap:4px;overflow-x:auto;padding:8px 0;white-space:nowrap}
.console nav.side a{padding:6px 10px;border-radius:6px;background:#fff;color:#1f2328;font-size:14px}
.console main.content{padding-bottom:40px}
.who{font-size:13px;opacity:.9}
.stars{color:#d9480f;letter-spacing:1px}
.review{border-top:1px solid #eee;padding:8px 0}
.review-photos img{height:auto;margin:0 6px 6px 0;border-radius:6px}
.reply{background:#f6f8fa;padding:6px 8px;border-radius:6px;font-size:14px}
@media(min-width:800px){
 .grid{grid-template-columns:repeat(4,1fr)}
 .kpis{grid-template-columns:repeat(4,1fr)}
 body.shop main.wrap{padding-bottom:24px}
 nav.tabs{position:static;max-width:1100px;margin:0 auto;border:0;background:transparent;justify-content:flex-start;gap:4px;padding:6px 12px}
 nav.tabs a{flex:none;padding:6px 12px;font-size:14px;background:#fff;border-radius:6px}
 body.shop{display:flex;flex-direction:column}
 body.shop nav.tabs{order:-1}
 body.shop header.top{order:-2}
 .console-grid{display:grid;grid-template-columns:190px 1fr;gap:16px}
 .console nav.side{flex-direction:column;position:sticky;top:64px;align-self:start}
 .two{display:grid;grid-template-columns:1fr 1fr;gap:12px}
}
"#;

const JS: &str = r#"
// Event tracking (埋点, docs/EVENTS.md), on the shop's pages only: page views with the time the
// page was visible (sent when it is hidden or left), clicks on elements marked data-track
// (with their data-track-sku / data-track-provider / data-track-list), the search term of /search, script errors
// and unhandled rejections, and anomalies (the same page reloaded 3 times within 30 s, a second
// payment failure the page sees). Each event: a random UUID, the anonymous device id (a random
// UUID kept in localStorage, nothing derived from the person), the path, the time, the channel
// and the schema version. Batched, sent with navigator.sendBeacon (fetch keepalive as a
// fallback) every 15 s and when the page is hidden or left; the server checks each event.
(function(){
  var body=document.body;
  if(!body||!body.classList.contains('shop'))return;
  var V=1,URL='/api/v1/events',MAX=50,queue=[],errors=0;
  var hex=function(n){var b=new Uint8Array(n);crypto.getRandomValues(b);return Array.prototype.map.call(b,function(x){return (x+256).toString(16).slice(1);}).join('');};
  var uuid=function(){
    if(window.crypto&&crypto.randomUUID)return crypto.randomUUID();
    var h=hex(16).split('');h[12]='4';h[16]='89ab'[parseInt(h[16],16)&3];h=h.join('');
    return h.slice(0,8)+'-'+h.slice(8,12)+'-'+h.slice(12,16)+'-'+h.slice(16,20)+'-'+h.slice(20);
  };
  var store=function(s,k,v){try{if(v===undefined)return s.getItem(k);s.setItem(k,v);}catch(e){}return null;};
  var device=store(localStorage,'rt_device');
  if(!device){device=uuid();store(localStorage,'rt_device',device);}
  var path=location.pathname;
  var channel=path.indexOf('/scan')===0?'scan_and_go':'online';
  var flush=function(){
    while(queue.length){
      var text=JSON.stringify({events:queue.splice(0,MAX)}),sent=false;
      try{sent=!!(navigator.sendBeacon&&navigator.sendBeacon(URL,text));}catch(e){}
      if(!sent){try{fetch(URL,{method:'POST',body:text,keepalive:true,headers:{'content-type':'text/plain'}});}catch(e){}}
    }
  };
  // The campaign (docs/EVENTS.md): ?utm_campaign= of the page the tab arrived on (a share
  // link's ?s= is the campaign "share"), kept for the tab and sent with its page views and clicks.
  var cq=new window.URLSearchParams(location.search);
  var camp=cq.get('utm_campaign')||(cq.get('s')?'share':'');
  camp=String(camp).trim().slice(0,64);
  if(camp)store(sessionStorage,'rt_campaign',camp);else camp=store(sessionStorage,'rt_campaign')||'';
  var push=function(name,props){
    props=props||{};
    if(camp&&(name==='page_view'||name==='click'))props.campaign=camp;
    queue.push({id:uuid(),name:name,v:V,ts:Date.now(),device:device,page:path,channel:channel,props:props||{}});
    if(queue.length>=MAX)flush();
  };
  var clip=function(t){return String(t==null?'':t).slice(0,200);};
  // Page view with dwell time: the time the page was visible, sent once, when first hidden.
  var dwell=0,since=document.visibilityState==='hidden'?null:Date.now(),viewed=false;
  var leave=function(){
    if(since!==null){dwell+=Date.now()-since;since=null;}
    if(!viewed){
      viewed=true;var p={dwell_ms:Math.max(0,Math.round(dwell))};
      if(document.referrer){try{var r=new window.URL(document.referrer);if(r.origin===location.origin)p.referrer=clip(r.pathname);}catch(e){}}
      push('page_view',p);
    }
    flush();
  };
  document.addEventListener('visibilitychange',function(){
    if(document.visibilityState==='hidden')leave();else if(since===null)since=Date.now();
  });
  window.addEventListener('pagehide',leave);
  setInterval(flush,15000);
  // Clicks on marked elements, seen before the page moves on (capture phase).
  document.addEventListener('click',function(e){
    var el=e.target&&e.target.closest&&e.target.closest('[data-track]');if(!el)return;
    var p={target:el.getAttribute('data-track')};
    if(el.getAttribute('data-track-sku'))p.sku=clip(el.getAttribute('data-track-sku'));
    if(el.getAttribute('data-track-provider'))p.provider=clip(el.getAttribute('data-track-provider'));
    if(el.getAttribute('data-track-list'))p.list=clip(el.getAttribute('data-track-list'));
    push('click',p);
  },true);
  if(path==='/search'){
    var qs=new window.URLSearchParams(location.search),term=qs.get('q');
    if(term&&term.trim()&&!qs.get('page'))push('search',{term:clip(term.trim()).slice(0,64)});
  }
  window.addEventListener('error',function(e){
    if(++errors>5)return;
    var p={kind:'error',message:clip(e.message||'error')};
    if(e.filename){try{p.source=clip(new window.URL(e.filename).pathname);}catch(x){}}
    if(e.lineno)p.line=e.lineno;
    push('client_error',p);
  });
  window.addEventListener('unhandledrejection',function(e){
    if(++errors>5)return;
    var r=e.reason;push('client_error',{kind:'rejection',message:clip((r&&r.message)||r||'rejected')});
  });
  // Anomalies: the same page reloaded 3 times within 30 s (counted in this tab).
  var nav=performance.getEntriesByType&&performance.getEntriesByType('navigation')[0];
  if(nav&&nav.type==='reload'){
    var key='rt_reload:'+path,now=Date.now();
    var times=(store(sessionStorage,key)||'').split(',').filter(function(t){return t&&now-t<30000;});
    times.push(now);store(sessionStorage,key,times.join(','));
    if(times.length>=3){push('anomaly',{kind:'repeated_refresh',count:times.length});store(sessionStorage,key,'');}
  }
  // Payment failures the page sees (a failure notice marked data-track-failure="payment", or
  // WeChat's payment sheet failing): from the second in this tab on, an anomaly.
  var payFailed=function(){
    var n=(parseInt(store(sessionStorage,'rt_payfail'),10)||0)+1;
    store(sessionStorage,'rt_payfail',String(n));
    if(n>=2)push('anomaly',{kind:'repeated_payment_failure',count:n});
  };
  if(document.querySelector('[data-track-failure="payment"]'))payFailed();
  window.rtTrack={push:push,payFailed:payFailed,flush:flush};
  // The product page's share button: the system share sheet, else the link copied (a logged-in
  // member's own attributed link, data-share-url, when the page gives one).
  document.querySelectorAll('[data-share]').forEach(function(b){
    b.addEventListener('click',function(){
      var own=b.getAttribute('data-share-url');
      var url=own?location.origin+own:location.origin+location.pathname+location.search;
      if(navigator.share){navigator.share({title:document.title,url:url}).catch(function(){});return;}
      if(navigator.clipboard){navigator.clipboard.writeText(url).then(function(){b.textContent=b.getAttribute('data-share-done');}).catch(function(){});}
    });
  });
})();
(function(){
  document.addEventListener('click',function(e){
    var b=e.target.closest&&e.target.closest('[data-locate]');if(!b)return;
    var f=b.form,st=document.getElementById('locate-status');
    var say=function(t){if(st)st.textContent=t;};
    if(!navigator.geolocation){say(b.getAttribute('data-fail'));return;}
    navigator.geolocation.getCurrentPosition(function(p){
      f.elements.lat_e6.value=Math.round(p.coords.latitude*1e6);
      f.elements.lng_e6.value=Math.round(p.coords.longitude*1e6);
      say(b.getAttribute('data-done'));
    },function(){say(b.getAttribute('data-fail'));},{timeout:10000,maximumAge:600000});
  });
})();
(function(){
  var cds=document.querySelectorAll('[data-countdown]');
  if(cds.length){
    var tick=function(){cds.forEach(function(el){
      var left=Math.max(0,Math.floor((+el.getAttribute('data-countdown')-Date.now())/1000));
      var h=Math.floor(left/3600),m=Math.floor(left%3600/60),sec=left%60;
      el.textContent=(h<10?'0':'')+h+':'+(m<10?'0':'')+m+':'+(sec<10?'0':'')+sec;
    });};
    tick();setInterval(tick,1000);
  }
})();
(function(){
  var q=document.getElementById('q'),box=document.getElementById('suggest'),timer=null;
  if(q&&box){
    var zh=(document.documentElement.lang||'').indexOf('zh')===0;
    var start=function(){
      if(q.value.trim())return;
      fetch('/search/start').then(function(r){return r.json();}).then(function(d){
        if(q.value.trim())return;
        box.innerHTML='';
        [[d.hot,zh?'热门搜索':'Popular searches'],[d.history,zh?'搜索历史':'Your searches']].forEach(function(g){
          if(!g[0]||!g[0].length)return;
          var h=document.createElement('b');h.textContent=g[1];box.appendChild(h);
          g[0].forEach(function(s){var a=document.createElement('a');a.href='/search?q='+encodeURIComponent(s);a.textContent=s;box.appendChild(a);});
        });
        box.hidden=!box.firstChild;
      }).catch(function(){box.hidden=true;});
    };
    q.addEventListener('focus',start);
    q.addEventListener('input',function(){
      clearTimeout(timer);
      var v=q.value.trim();
      if(!v){start();return;}
      timer=setTimeout(function(){
        fetch('/search/suggest?q='+encodeURIComponent(v)).then(function(r){return r.json();}).then(function(list){
          box.innerHTML='';
          list.forEach(function(s){var a=document.createElement('a');a.href='/search?q='+encodeURIComponent(s);a.textContent=s;box.appendChild(a);});
          box.hidden=list.length===0;
        }).catch(function(){box.hidden=true;});
      },150);
    });
    document.addEventListener('click',function(e){if(!box.contains(e.target)&&e.target!==q)box.hidden=true;});
  }
  var code=document.querySelector('[data-refresh]');
  if(code){
    var refresh=function(){
      fetch(code.getAttribute('data-refresh')).then(function(r){return r.json();}).then(function(d){
        code.querySelector('.qr').innerHTML=d.svg;
        var t=code.querySelector('[data-code-text]'); if(t)t.textContent=d.code;
        setTimeout(refresh,Math.max(5000,(d.expires_in-15)*1000));
      }).catch(function(){setTimeout(refresh,5000);});
    };
    setTimeout(refresh,Math.max(5000,(parseInt(code.getAttribute('data-expires-in'),10)-15)*1000));
  }
  var reprice=document.getElementById('reprice');
  if(reprice){
    document.querySelectorAll('[data-reprice]').forEach(function(el){
      el.addEventListener('change',function(){reprice.click();});
    });
  }
  var job=document.getElementById('import-job');
  if(job){
    var poll=function(){
      fetch(job.getAttribute('data-poll'),{credentials:'same-origin'}).then(function(r){return r.json();}).then(function(p){
        if(p.phase==='finished'){location.reload();return;}
        if(p.total>0){
          var bar=document.getElementById('import-progress');
          bar.max=p.total;bar.value=p.done;
          document.getElementById('import-done').textContent=p.done;
          document.getElementById('import-total').textContent=p.total;
          document.getElementById('import-count').hidden=false;
          var phase=document.getElementById('import-phase');
          if(p.phase==='importing')phase.textContent=phase.getAttribute('data-importing');
        }
        setTimeout(poll,400);
      }).catch(function(){setTimeout(poll,2000);});
    };
    setTimeout(poll,300);
  }
  // Paying inside WeChat (JSAPI): <div id="wechat-pay" data-params="{appId,timeStamp,nonceStr,
  // package,signType,paySign}" data-done="URL">. Once WeChat's bridge is ready, its payment sheet
  // is opened with the signed parameters; paid → the confirmation page (which waits for the
  // provider's notification); cancelled or failed → said so, with a button to try again.
  var wx=document.getElementById('wechat-pay');
  if(wx){
    var params=JSON.parse(wx.getAttribute('data-params'));
    var status=document.getElementById('wechat-pay-status'),again=document.getElementById('wechat-pay-again');
    var pay=function(){
      again.hidden=true;
      window.WeixinJSBridge.invoke('getBrandWCPayRequest',params,function(res){
        var said=(res&&res.err_msg)||'';
        if(said==='get_brand_wcpay_request:ok'){location.replace(wx.getAttribute('data-done'));return;}
        if(said!=='get_brand_wcpay_request:cancel'&&window.rtTrack)window.rtTrack.payFailed();
        status.textContent=status.getAttribute(said==='get_brand_wcpay_request:cancel'?'data-cancelled':'data-failed');
        again.hidden=false;
      });
    };
    again.addEventListener('click',pay);
    if(window.WeixinJSBridge&&window.WeixinJSBridge.invoke){pay();}
    else{document.addEventListener('WeixinJSBridgeReady',pay,false);}
  }
  // Camera scanning where the browser has BarcodeDetector: a <video data-scan-form="FORM"
  // data-scan-input="INPUT" data-scan-formats="ean_13 qr_code …"> fills the input with the first
  // code seen and submits the form (scan-and-go items, receipt codes).
  document.querySelectorAll('video[data-scan-form]').forEach(function(video){
    if(!('BarcodeDetector' in window)||!navigator.mediaDevices)return;
    var form=document.getElementById(video.getAttribute('data-scan-form'));
    var input=document.getElementById(video.getAttribute('data-scan-input'));
    if(!form||!input)return;
    var det=new window.BarcodeDetector({formats:video.getAttribute('data-scan-formats').split(' ')});
    navigator.mediaDevices.getUserMedia({video:{facingMode:'environment'}}).then(function(s){
      video.srcObject=s;video.hidden=false;video.play();
      var busy=false;
      setInterval(function(){
        if(busy)return;busy=true;
        det.detect(video).then(function(codes){
          if(codes.length){input.value=codes[0].rawValue;form.submit();}
          busy=false;
        }).catch(function(){busy=false;});
      },400);
    }).catch(function(){});
  });
})();
"#;

const CHAT_JS: &str = r#"
// The chat (docs/CHAT.md): one WebSocket to /chat/ws (shoppers) or /console/chat/ws (agents).
// Every message sent gets a client id (UUIDv7) and stays in `pending` until the server acks it,
// and is sent again after a reconnect (the server stores it once). On (re)connect the socket
// asks for what came after the last number shown (`after`), so nothing is missed or shown twice.
(function () {
  var root = document.getElementById('chat');
  if (!root) return;
  var L = document.getElementById('chat-labels').dataset;
  var side = root.dataset.side, wsPath = root.dataset.ws, upload = root.dataset.upload;
  var shown = root.dataset.conversation || '';
  var context = root.dataset.context || '';
  var csrf = (document.querySelector('meta[name=csrf]') || {}).content || '';
  var log = document.getElementById('chat-log'), status = document.getElementById('chat-status');
  var text = document.getElementById('chat-text');
  var conv = shown, last = 0, pending = {}, ws = null, backoff = 500, faqUrl = root.dataset.faq;
  function hex(n) { var a = new Uint8Array(n); crypto.getRandomValues(a); return Array.from(a, function (b) { return ('0' + b.toString(16)).slice(-2); }).join(''); }
  function uuid7() {
    var t = Date.now().toString(16).padStart(12, '0'), r = hex(10);
    return t.slice(0, 8) + '-' + t.slice(8, 12) + '-7' + r.slice(0, 3) + '-' + ((parseInt(r[3], 16) & 3) | 8).toString(16) + r.slice(4, 7) + '-' + r.slice(7, 19);
  }
  function yuan(fen) { return fen == null ? '' : '¥' + (fen / 100).toFixed(2); }
  function mine(m) { return (side === 'member' && m.sender === 'member') || (side === 'agent' && m.sender === 'agent'); }
  function bubble(m) {
    var el = document.createElement('div');
    el.className = 'msg from-' + m.sender + (mine(m) ? ' mine' : '');
    if (m.seq) el.dataset.seq = m.seq;
    el.dataset.clientId = m.client_id;
    var who = document.createElement('span'); who.className = 'who';
    who.textContent = m.sender === 'agent' ? (L.agent + (m.staff_name ? ' ' + m.staff_name : '')) : L[m.sender] || m.sender;
    el.appendChild(who);
    if (m.kind === 'image' && m.image) {
      var img = document.createElement('img'); img.src = m.image; img.alt = ''; el.appendChild(img);
    } else if ((m.kind === 'product' || m.kind === 'order') && m.card) {
      var a = document.createElement('a'); a.className = 'chat-card';
      var c = m.card;
      if (m.kind === 'order') {
        a.href = side === 'agent' ? '/console/orders/' + c.id : '/orders/' + c.id;
        a.textContent = L.order + ' ' + c.order_no + ' · ' + c.status + ' · ' + yuan(c.total_fen);
      } else {
        a.href = c.link;
        a.textContent = (document.documentElement.lang === 'en' && c.name_en ? c.name_en : c.name_zh) + ' · ' + yuan(c.price_fen);
      }
      el.appendChild(a);
    } else {
      el.appendChild(document.createTextNode(m.text || ''));
    }
    if (side === 'agent' && m.sender === 'agent' && m.kind === 'text' && m.seq && faqUrl) {
      var b = document.createElement('button'); b.type = 'button'; b.className = 'link save-faq'; b.textContent = L.faq;
      b.onclick = function () {
        fetch(faqUrl, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: '_csrf=' + encodeURIComponent(csrf) + '&seq=' + m.seq })
          .then(function (r) { if (r.ok) { b.textContent = L.faqDone; b.disabled = true; } });
      };
      el.appendChild(document.createElement('br')); el.appendChild(b);
    }
    return el;
  }
  function show(m) {
    var old = log.querySelector('[data-client-id="' + CSS.escape(m.client_id) + '"]');
    var el = bubble(m);
    if (old) old.replaceWith(el); else log.appendChild(el);
    log.scrollTop = log.scrollHeight;
  }
  function inbox(c, fromMember) {
    var item = document.querySelector('#inbox-list [data-conversation="' + c.id + '"]');
    if (!item) {
      if (c.status !== 'waiting') return;
      var list = document.getElementById('inbox-list'); if (!list) return;
      item = document.createElement('li'); item.className = 'inbox-item'; item.dataset.conversation = c.id;
      var a = document.createElement('a'); a.href = '/console/chat?view=waiting&c=' + c.id;
      a.textContent = L['new'] + ' · ' + c.queue + ' ';
      var badge = document.createElement('span'); badge.className = 'badge unread'; badge.hidden = true; badge.textContent = '0';
      a.appendChild(badge); item.appendChild(a); list.insertBefore(item, list.firstChild);
      var empty = document.getElementById('inbox-empty'); if (empty) empty.remove();
    }
    item.dataset.status = c.status;
    var badge = item.querySelector('.unread');
    if (badge && fromMember && c.id !== shown) { badge.textContent = String((parseInt(badge.textContent, 10) || 0) + 1); badge.hidden = false; }
  }
  function read() {
    if (!ws || ws.readyState !== 1 || !last || document.hidden) return;
    var f = { type: 'read', seq: last }; if (side === 'agent') f.conversation_id = conv;
    ws.send(JSON.stringify(f));
  }
  function onFrame(f) {
    if (f.type === 'hello') {
      status.textContent = L.online;
      if (side === 'member' && f.conversation) { if (f.conversation.id !== conv) { conv = f.conversation.id; last = 0; } }
      return;
    }
    if (f.type === 'message') {
      var m = f.message;
      if (side === 'agent' && m.conversation_id !== shown) { inbox(f.conversation, m.sender === 'member'); return; }
      if (side === 'member' && m.conversation_id !== conv) { conv = m.conversation_id; last = 0; }
      if (m.seq <= last) return;
      last = m.seq; delete pending[m.client_id]; show(m); read();
      return;
    }
    if (f.type === 'ack') { delete pending[f.client_id]; return; }
    if (f.type === 'error') {
      if (f.client_id && pending[f.client_id]) {
        delete pending[f.client_id];
        var el = log.querySelector('[data-client-id="' + CSS.escape(f.client_id) + '"]');
        if (el) { el.classList.add('failed'); el.classList.remove('pending'); el.appendChild(document.createTextNode(' ' + L.failed + f.message)); }
      } else { status.textContent = L.failed + f.message; }
      return;
    }
    if (f.type === 'conversation') {
      var c = f.conversation;
      if (side === 'agent') {
        inbox(c, false);
        if (c.id === shown) { var st = document.getElementById('chat-state'); if (st) st.dataset.status = c.status; }
      }
    }
  }
  function connect() {
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + wsPath + '?after=' + last + (conv ? '&conversation=' + conv : '');
    ws = new WebSocket(url);
    ws.onopen = function () { backoff = 500; Object.keys(pending).forEach(function (k) { ws.send(JSON.stringify(pending[k])); }); };
    ws.onmessage = function (e) { try { onFrame(JSON.parse(e.data)); } catch (err) { /* not ours */ } };
    ws.onclose = function () { status.textContent = L.reconnecting; setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 10000); };
  }
  function send(kind, body) {
    var f = { type: 'send', client_id: uuid7(), kind: kind, body: body };
    if (side === 'agent') f.conversation_id = shown; else if (context) f.context = context;
    pending[f.client_id] = f;
    var el = bubble({ sender: side, kind: kind, text: kind === 'text' ? body : L.sending, client_id: f.client_id });
    el.classList.add('pending'); log.appendChild(el); log.scrollTop = log.scrollHeight;
    if (ws && ws.readyState === 1) ws.send(JSON.stringify(f));
  }
  var form = document.getElementById('chat-form');
  if (form) form.addEventListener('submit', function (e) {
    e.preventDefault(); var v = text.value.trim(); if (!v) return; send('text', v); text.value = '';
  });
  var human = document.getElementById('chat-human');
  if (human) human.onclick = function () { send('text', human.dataset.text); };
  var ctxBtn = document.getElementById('chat-send-context');
  if (ctxBtn) ctxBtn.onclick = function () { send(ctxBtn.dataset.kind, ctxBtn.dataset.id); ctxBtn.disabled = true; };
  document.querySelectorAll('.send-order').forEach(function (b) { b.onclick = function () { send('order', b.dataset.order); }; });
  var canned = document.getElementById('chat-canned');
  if (canned) canned.onchange = function () { if (canned.value) { text.value = canned.value; canned.value = ''; text.focus(); } };
  var image = document.getElementById('chat-image');
  if (image) image.onchange = function () {
    var file = image.files[0]; if (!file) return;
    fetch(upload, { method: 'POST', headers: { 'x-csrf-token': csrf, 'Content-Type': file.type || 'application/octet-stream' }, body: file })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r); })
      .then(function (j) { send('image', j.name); }, function () { status.textContent = L.imageFailed; });
    image.value = '';
  };
  document.addEventListener('visibilitychange', read);
  connect();
})();
"#;
