import * as echarts from "echarts";
const c = echarts.init(null, null, { renderer: "svg", ssr: true, width: 600, height: 300 });
c.setOption({ animation:false, xAxis:{type:"category",data:["a","b"]}, yAxis:{type:"value"}, series:[{type:"bar",data:[3,5]}]});
const s = c.renderToSVGString();
console.log(s.length, s.slice(0,600));
console.log((s.match(/style="/g)||[]).length, "style attrs", /<style/.test(s));
c.dispose();
